using System;
using System.Collections.Generic;
using System.Linq;

namespace Example.Banking
{
    public enum TransactionKind { Deposit, Withdrawal, Fee, Interest }

    public readonly record struct Transaction(DateTime At, TransactionKind Kind, decimal Amount, string Memo);

    public class InsufficientFundsException : InvalidOperationException
    {
        public decimal Requested { get; }
        public decimal Available { get; }

        public InsufficientFundsException(decimal requested, decimal available)
            : base($"requested {requested:C}, available {available:C}")
        {
            Requested = requested;
            Available = available;
        }
    }

    public sealed class BankAccount
    {
        private readonly List<Transaction> _ledger = new();
        private readonly object _sync = new();

        public string Owner { get; }
        public string Iban { get; }
        public decimal OverdraftLimit { get; init; }

        public BankAccount(string owner, string iban)
        {
            Owner = owner ?? throw new ArgumentNullException(nameof(owner));
            Iban = string.IsNullOrWhiteSpace(iban) ? throw new ArgumentException("IBAN required") : iban;
        }

        public decimal Balance
        {
            get
            {
                lock (_sync)
                {
                    return _ledger.Sum(t => t.Kind is TransactionKind.Deposit or TransactionKind.Interest ? t.Amount : -t.Amount);
                }
            }
        }

        public IReadOnlyList<Transaction> History => _ledger.AsReadOnly();

        public void Deposit(decimal amount, string memo = "")
        {
            if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount));
            lock (_sync)
            {
                _ledger.Add(new Transaction(DateTime.UtcNow, TransactionKind.Deposit, amount, memo));
            }
        }

        public void Withdraw(decimal amount, string memo = "")
        {
            if (amount <= 0) throw new ArgumentOutOfRangeException(nameof(amount));
            lock (_sync)
            {
                var available = Balance + OverdraftLimit;
                if (amount > available)
                {
                    throw new InsufficientFundsException(amount, available);
                }
                _ledger.Add(new Transaction(DateTime.UtcNow, TransactionKind.Withdrawal, amount, memo));
            }
        }

        public IEnumerable<(int Month, decimal Net)> MonthlyNet(int year) =>
            from t in _ledger
            where t.At.Year == year
            group t by t.At.Month into g
            orderby g.Key
            select (g.Key, g.Sum(t => t.Kind == TransactionKind.Withdrawal || t.Kind == TransactionKind.Fee ? -t.Amount : t.Amount));

        public override string ToString() => $"{Owner} ({Iban}): {Balance:C}";
    }

    public static class Program
    {
        public static int Main(string[] args)
        {
            var account = new BankAccount("Ada Lovelace", "GB82WEST12345698765432") { OverdraftLimit = 100m };
            account.Deposit(250m, "salary");
            account.Withdraw(75.5m, "groceries");
            try
            {
                account.Withdraw(1_000m);
            }
            catch (InsufficientFundsException ex)
            {
                Console.Error.WriteLine($"declined: {ex.Message}");
            }
            foreach (var (month, net) in account.MonthlyNet(DateTime.UtcNow.Year))
            {
                Console.WriteLine($"{month,2}: {net,10:N2}");
            }
            Console.WriteLine(account);
            return 0;
        }
    }
}
