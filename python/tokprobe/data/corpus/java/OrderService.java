package org.example.orders;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

public class OrderService {

    public enum Status { NEW, PAID, SHIPPED, CANCELLED }

    public record Line(String sku, int quantity, BigDecimal unitPrice) {
        public Line {
            if (quantity <= 0) {
                throw new IllegalArgumentException("quantity must be positive");
            }
        }

        BigDecimal total() {
            return unitPrice.multiply(BigDecimal.valueOf(quantity));
        }
    }

    public static final class Order {
        private final long id;
        private final String customer;
        private final List<Line> lines;
        private volatile Status status = Status.NEW;
        private final Instant created = Instant.now();

        Order(long id, String customer, List<Line> lines) {
            this.id = id;
            this.customer = customer;
            this.lines = Collections.unmodifiableList(new ArrayList<>(lines));
        }

        public long id() { return id; }
        public String customer() { return customer; }
        public Status status() { return status; }
        public Instant created() { return created; }

        public BigDecimal total() {
            return lines.stream()
                    .map(Line::total)
                    .reduce(BigDecimal.ZERO, BigDecimal::add)
                    .setScale(2, RoundingMode.HALF_UP);
        }
    }

    private final AtomicLong nextId = new AtomicLong(1000);
    private final ConcurrentHashMap<Long, Order> orders = new ConcurrentHashMap<>();

    public Order place(String customer, List<Line> lines) {
        if (customer == null || customer.isBlank()) {
            throw new IllegalArgumentException("customer required");
        }
        if (lines.isEmpty()) {
            throw new IllegalStateException("an order needs at least one line");
        }
        Order order = new Order(nextId.getAndIncrement(), customer, lines);
        orders.put(order.id(), order);
        return order;
    }

    public synchronized void transition(long id, Status next) {
        Order order = orders.get(id);
        if (order == null) {
            throw new IllegalArgumentException("no order " + id);
        }
        boolean allowed = switch (order.status) {
            case NEW -> next == Status.PAID || next == Status.CANCELLED;
            case PAID -> next == Status.SHIPPED || next == Status.CANCELLED;
            case SHIPPED, CANCELLED -> false;
        };
        if (!allowed) {
            throw new IllegalStateException(order.status + " -> " + next + " is not allowed");
        }
        order.status = next;
    }

    public List<Order> byCustomer(String customer) {
        return orders.values().stream()
                .filter(o -> o.customer().equals(customer))
                .sorted((a, b) -> Long.compare(a.id(), b.id()))
                .collect(Collectors.toList());
    }

    public BigDecimal revenue() {
        BigDecimal sum = BigDecimal.ZERO;
        for (Order o : orders.values()) {
            if (o.status() == Status.PAID || o.status() == Status.SHIPPED) {
                sum = sum.add(o.total());
            }
        }
        return sum;
    }
}
