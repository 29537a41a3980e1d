package org.example.cache;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * A least-recently-used cache with a fixed capacity, backed by a hash map and a
 * doubly linked list. Not thread safe; wrap it if you share it.
 */
public final class LruCache<K, V> {

    private static final class Node<K, V> {
        final K key;
        V value;
        Node<K, V> prev;
        Node<K, V> next;

        Node(K key, V value) {
            this.key = key;
            this.value = value;
        }
    }

    private final int capacity;
    private final Map<K, Node<K, V>> index = new HashMap<>();
    private final Node<K, V> head = new Node<>(null, null);
    private final Node<K, V> tail = new Node<>(null, null);
    private long hits;
    private long misses;

    public LruCache(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        this.capacity = capacity;
        head.next = tail;
        tail.prev = head;
    }

    public Optional<V> get(K key) {
        Node<K, V> node = index.get(Objects.requireNonNull(key));
        if (node == null) {
            misses++;
            return Optional.empty();
        }
        hits++;
        moveToFront(node);
        return Optional.ofNullable(node.value);
    }

    public V computeIfAbsent(K key, Function<? super K, ? extends V> loader) {
        return get(key).orElseGet(() -> {
            V value = loader.apply(key);
            put(key, value);
            return value;
        });
    }

    public void put(K key, V value) {
        Node<K, V> node = index.get(key);
        if (node != null) {
            node.value = value;
            moveToFront(node);
            return;
        }
        if (index.size() == capacity) {
            Node<K, V> eldest = tail.prev;
            unlink(eldest);
            index.remove(eldest.key);
        }
        node = new Node<>(key, value);
        index.put(key, node);
        linkFirst(node);
    }

    public int size() {
        return index.size();
    }

    public double hitRate() {
        long total = hits + misses;
        return total == 0 ? 0.0 : (double) hits / total;
    }

    private void moveToFront(Node<K, V> node) {
        unlink(node);
        linkFirst(node);
    }

    private void linkFirst(Node<K, V> node) {
        node.next = head.next;
        node.prev = head;
        head.next.prev = node;
        head.next = node;
    }

    private void unlink(Node<K, V> node) {
        node.prev.next = node.next;
        node.next.prev = node.prev;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("LruCache[");
        for (Node<K, V> n = head.next; n != tail; n = n.next) {
            sb.append(n.key).append('=').append(n.value);
            if (n.next != tail) {
                sb.append(", ");
            }
        }
        return sb.append(']').toString();
    }
}
