<?php

declare(strict_types=1);

namespace App\Shop;

interface Discount
{
    public function apply(int $subtotalCents): int;
}

enum Currency: string
{
    case EUR = 'EUR';
    case USD = 'USD';

    public function symbol(): string
    {
        return match ($this) {
            self::EUR => '€',
            self::USD => '$',
        };
    }
}

abstract class PercentOff implements Discount
{
    public function __construct(protected int $percent)
    {
        if ($percent < 0 || $percent > 100) {
            throw new \DomainException('percent out of range');
        }
    }
}

final class SeasonalDiscount extends PercentOff
{
    public function apply(int $subtotalCents): int
    {
        return intdiv($subtotalCents * (100 - $this->percent), 100);
    }
}

trait FormatsMoney
{
    private function money(int $cents): string
    {
        return sprintf('%s%d.%02d', $this->currency->symbol(), intdiv($cents, 100), $cents % 100);
    }
}

class Cart implements \Countable, \IteratorAggregate
{
    use FormatsMoney;

    /** @var array<string, array{name: string, price: int, qty: int}> */
    private array $lines = [];
    private ?Discount $discount = null;

    public function __construct(private readonly Currency $currency = Currency::EUR)
    {
    }

    public function add(string $sku, string $name, int $priceCents, int $qty = 1): static
    {
        if ($qty < 1) {
            throw new \InvalidArgumentException('quantity must be at least 1');
        }
        if (isset($this->lines[$sku])) {
            $this->lines[$sku]['qty'] += $qty;
        } else {
            $this->lines[$sku] = ['name' => $name, 'price' => $priceCents, 'qty' => $qty];
        }
        return $this;
    }

    public function remove(string $sku): void
    {
        unset($this->lines[$sku]);
    }

    public function withDiscount(Discount $discount): static
    {
        $copy = clone $this;
        $copy->discount = $discount;
        return $copy;
    }

    public function subtotal(): int
    {
        return array_sum(array_map(fn (array $l): int => $l['price'] * $l['qty'], $this->lines));
    }

    public function total(): int
    {
        $subtotal = $this->subtotal();
        return $this->discount?->apply($subtotal) ?? $subtotal;
    }

    public function count(): int
    {
        return count($this->lines);
    }

    public function getIterator(): \Generator
    {
        foreach ($this->lines as $sku => $line) {
            yield $sku => $line['name'] . ' x' . $line['qty'] . ' = ' . $this->money($line['price'] * $line['qty']);
        }
    }

    public function __toString(): string
    {
        return 'Cart(' . count($this) . ' lines, total ' . $this->money($this->total()) . ')';
    }
}
