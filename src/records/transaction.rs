//! A transaction as entered: order reference, time, status, items, total,
//! payment method and payment details, and the checks it must pass before
//! it is sealed and stored.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::money::{Currency, Money, OrderLine, check_total};
use super::payment::{BankAccount, CardNumber, PaymentDetails};
use crate::error::{Error, Result};

named_enum!(
    /// Where a transaction stands.
    TransactionStatus, "transaction.status", "transaction_status" {
        /// Ordered, not yet paid.
        Pending = "pending",
        /// Paid.
        Paid = "paid",
        /// Part of the amount was refunded.
        PartiallyRefunded = "partially_refunded",
        /// Refunded in full.
        Refunded = "refunded",
        /// Cancelled before payment.
        Cancelled = "cancelled",
    }
);

impl TransactionStatus {
    /// Checks a change of status: `pending` → `paid` | `cancelled`, `paid`
    /// → `partially_refunded` | `refunded`, `partially_refunded` →
    /// `refunded`. Anything else is refused with `transition_invalid`.
    pub fn check_transition(self, to: TransactionStatus) -> Result<()> {
        use TransactionStatus::*;
        let allowed = matches!(
            (self, to),
            (Pending, Paid | Cancelled) | (Paid, PartiallyRefunded | Refunded) | (PartiallyRefunded, Refunded)
        );
        if allowed {
            Ok(())
        } else {
            Err(Error::invalid(
                "transaction.status",
                "transition_invalid",
                format!("a transaction cannot go from {} to {}", self.name(), to.name()),
            ))
        }
    }
}

named_enum!(
    /// How a transaction was paid.
    PaymentMethod, "transaction.payment_method", "payment_method" {
        /// Cash.
        Cash = "cash",
        /// A bank card (debit or credit).
        BankCard = "bank_card",
        /// A bank transfer.
        BankTransfer = "bank_transfer",
        /// WeChat Pay.
        WechatPay = "wechat_pay",
        /// Alipay.
        Alipay = "alipay",
        /// Anything else.
        Other = "other",
    }
);

/// One item of an order as entered: quantity and unit price as integers
/// (the price in the currency's minor unit), so nothing is rounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemInput {
    /// What was bought (1-200 printable characters).
    pub item: String,
    /// How many (at least 1).
    pub quantity: i64,
    /// The price of one, in minor units (fen for CNY), not negative.
    pub unit_price_minor: i64,
}

/// A discount (negative) or fee (positive) line, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentInput {
    /// What it is (`会员折扣`, `shipping`; 1-200 printable characters).
    pub label: String,
    /// The amount, in minor units.
    pub amount_minor: i64,
}

/// Payment details as entered. Zeroed on drop; `Debug` shows nothing of them.
#[derive(Clone)]
pub enum PaymentInput {
    /// A card number (digits, optionally grouped by spaces or dashes).
    Card(Zeroizing<String>),
    /// A bank account number.
    BankAccount(Zeroizing<String>),
}

impl std::fmt::Debug for PaymentInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PaymentInput::Card(_) => "Card(<redacted>)",
            PaymentInput::BankAccount(_) => "BankAccount(<redacted>)",
        })
    }
}

/// A transaction to record for a customer:
///
/// ```
/// use custodian::records::transaction::{PaymentMethod, TransactionInput};
/// let order = TransactionInput::new("SO-2026-0001", "CNY", 29_000, PaymentMethod::BankCard)
///     .item("龙井茶 250g", 2, 8_800)
///     .item("茶具", 1, 12_000)
///     .adjustment("会员折扣", -600)
///     .card("4111 1111 1111 1111");
/// # let _ = order;
/// ```
#[derive(Debug, Clone)]
pub struct TransactionInput {
    /// The order reference (1-64 printable characters).
    pub reference: String,
    /// When it took place (Unix ms); `None`: now.
    pub time: Option<i64>,
    /// Its status (default `paid`).
    pub status: TransactionStatus,
    /// The ISO 4217 currency code.
    pub currency: String,
    /// The items.
    pub items: Vec<ItemInput>,
    /// Discounts and fees.
    pub adjustments: Vec<AdjustmentInput>,
    /// The total, in minor units: the sum of the items and adjustments.
    pub total_minor: i64,
    /// How it was paid.
    pub payment_method: PaymentMethod,
    /// The card or account, if one was used (L1).
    pub payment: Option<PaymentInput>,
}

impl TransactionInput {
    /// A paid transaction `reference` of `total_minor` in `currency`, by `method`, without items yet.
    pub fn new(reference: &str, currency: &str, total_minor: i64, method: PaymentMethod) -> Self {
        TransactionInput {
            reference: reference.to_owned(),
            time: None,
            status: TransactionStatus::Paid,
            currency: currency.to_owned(),
            items: Vec::new(),
            adjustments: Vec::new(),
            total_minor,
            payment_method: method,
            payment: None,
        }
    }

    /// Adds an item: `quantity` × `unit_price_minor`.
    pub fn item(mut self, item: &str, quantity: i64, unit_price_minor: i64) -> Self {
        self.items.push(ItemInput { item: item.to_owned(), quantity, unit_price_minor });
        self
    }

    /// Adds a discount (negative) or fee (positive).
    pub fn adjustment(mut self, label: &str, amount_minor: i64) -> Self {
        self.adjustments.push(AdjustmentInput { label: label.to_owned(), amount_minor });
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: TransactionStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the time (Unix ms).
    pub fn at(mut self, time: i64) -> Self {
        self.time = Some(time);
        self
    }

    /// Pays by the card `number`.
    pub fn card(mut self, number: &str) -> Self {
        self.payment = Some(PaymentInput::Card(Zeroizing::new(number.to_owned())));
        self
    }

    /// Pays from the bank account `account`.
    pub fn bank_account(mut self, account: &str) -> Self {
        self.payment = Some(PaymentInput::BankAccount(Zeroizing::new(account.to_owned())));
        self
    }

    /// Checks everything and returns the values to seal.
    pub(crate) fn check(&self) -> Result<CheckedTransaction> {
        let reference = check_text("transaction.reference", &self.reference, 64)?;
        let currency = Currency::from_code(&self.currency)?;
        let mut lines = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.iter().enumerate() {
            let field = format!("items[{i}]");
            let name = check_text(&field, &item.item, 200)?;
            if item.quantity <= 0 {
                return Err(Error::invalid(field, "quantity_not_positive", "a quantity is at least 1"));
            }
            let quantity = u32::try_from(item.quantity)
                .map_err(|_| Error::invalid(field.clone(), "quantity_too_large", "a quantity is at most 4294967295"))?;
            lines.push(OrderLine {
                item: name,
                quantity,
                unit_price: Money::from_minor(item.unit_price_minor, currency),
            });
        }
        let mut adjustments = Vec::with_capacity(self.adjustments.len());
        for (i, adjustment) in self.adjustments.iter().enumerate() {
            check_text(&format!("adjustments[{i}]"), &adjustment.label, 200)?;
            adjustments.push(Money::from_minor(adjustment.amount_minor, currency));
        }
        let total = Money::from_minor(self.total_minor, currency);
        check_total(&lines, &adjustments, total)?;
        let payment = match &self.payment {
            None => None,
            Some(PaymentInput::Card(number)) => Some(PaymentDetails::Card(CardNumber::parse(number)?)),
            Some(PaymentInput::BankAccount(account)) => Some(PaymentDetails::BankAccount(BankAccount::parse(account)?)),
        };
        if let Some(details) = &payment {
            check_payment_fits(details, self.payment_method)?;
        }
        let items = serde_json::json!({
            "currency": currency.code(),
            "lines": self.items.iter().map(|i| serde_json::json!({
                "item": i.item.trim(), "quantity": i.quantity, "unit_price_minor": i.unit_price_minor,
            })).collect::<Vec<_>>(),
            "adjustments": self.adjustments.iter().map(|a| serde_json::json!({
                "label": a.label.trim(), "amount_minor": a.amount_minor,
            })).collect::<Vec<_>>(),
        });
        Ok(CheckedTransaction {
            reference,
            items: Zeroizing::new(items.to_string()),
            total: total.to_string(),
            payment: payment.map(|p| p.stored()),
        })
    }
}

/// A transaction's checked values, ready to seal.
pub(crate) struct CheckedTransaction {
    pub(crate) reference: String,
    pub(crate) items: Zeroizing<String>,
    pub(crate) total: String,
    pub(crate) payment: Option<Zeroizing<String>>,
}

/// Checks a short text of a record: 1 to `max` characters after trimming,
/// no control characters. Returns it trimmed.
pub(crate) fn check_text(field: &str, raw: &str, max: usize) -> Result<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Error::invalid(field, "required", "a value is required"));
    }
    if raw.len() > super::MAX_TEXT_BYTES || text.chars().count() > max {
        return Err(Error::invalid(field, "too_long", format!("at most {max} characters")));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            "control_character",
            format!("contains control character U+{:04X}", c as u32),
        ));
    }
    Ok(text.to_owned())
}

/// Checks a payment-details value written by a patch (`card:` or `account:`
/// prefixed, or a bare card number) for a transaction paid by `method`,
/// returning its stored form.
pub(crate) fn check_payment_patch(raw: &str, method: PaymentMethod) -> Result<Zeroizing<String>> {
    let details = if let Some(account) = raw.strip_prefix("account:") {
        PaymentDetails::BankAccount(BankAccount::parse(account)?)
    } else {
        PaymentDetails::Card(CardNumber::parse(raw.strip_prefix("card:").unwrap_or(raw))?)
    };
    check_payment_fits(&details, method)?;
    Ok(details.stored())
}

/// Card numbers go with `bank_card`, bank accounts with `bank_transfer`.
fn check_payment_fits(details: &PaymentDetails, method: PaymentMethod) -> Result<()> {
    match (details, method) {
        (PaymentDetails::Card(_), PaymentMethod::BankCard)
        | (PaymentDetails::BankAccount(_), PaymentMethod::BankTransfer) => Ok(()),
        _ => Err(Error::invalid(
            "transaction.payment_details",
            "payment_details_mismatch",
            format!("card numbers go with bank_card and bank accounts with bank_transfer, not with {}", method.name()),
        )),
    }
}

impl std::fmt::Debug for CheckedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckedTransaction(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(e: Error) -> &'static str {
        match e {
            Error::Invalid { rule, .. } => rule,
            other => panic!("{other}"),
        }
    }

    fn order() -> TransactionInput {
        TransactionInput::new("SO-1", "CNY", 29_000, PaymentMethod::BankCard)
            .item("茶叶", 2, 8_800)
            .item("茶具", 1, 12_000)
            .adjustment("折扣", -600)
    }

    #[test]
    fn a_valid_order_checks_and_bad_ones_name_their_rule() {
        let checked = order().card("4111 1111 1111 1111").check().unwrap();
        assert_eq!(checked.total, "290.00 CNY");
        assert!(checked.items.contains("\"unit_price_minor\":8800"), "{}", checked.items.as_str());
        assert_eq!(checked.payment.unwrap().as_str(), "card:4111111111111111");
        assert_eq!(rule(order().item("x", -1, 1).check().unwrap_err()), "quantity_not_positive");
        assert_eq!(rule(order().item("x", 0, 1).check().unwrap_err()), "quantity_not_positive");
        assert_eq!(rule(order().item("x", 1 << 40, 1).check().unwrap_err()), "quantity_too_large");
        assert_eq!(rule(order().item("x", 1, -5).check().unwrap_err()), "price_negative");
        assert_eq!(rule(order().adjustment("fee", 1).check().unwrap_err()), "total_mismatch");
        let mut unknown = order();
        unknown.currency = "XXY".into();
        assert_eq!(rule(unknown.check().unwrap_err()), "currency_unknown");
        assert_eq!(
            rule(
                TransactionInput::new("SO-2", "CNY", 0, PaymentMethod::Cash)
                    .item("x", 2, i64::MAX)
                    .check()
                    .unwrap_err()
            ),
            "amount_overflow"
        );
        let luhn = order().card("4111 1111 1111 1112").check().unwrap_err();
        assert!(!luhn.to_string().contains("1112"), "{luhn}");
        assert_eq!(rule(luhn), "card_luhn");
        let mut cash = order().card("4111 1111 1111 1111");
        cash.payment_method = PaymentMethod::Cash;
        assert_eq!(rule(cash.check().unwrap_err()), "payment_details_mismatch");
        assert_eq!(rule(TransactionInput { reference: " ".into(), ..order() }.check().unwrap_err()), "required");
        assert_eq!(format!("{:?}", order().card("4111111111111111").payment), "Some(Card(<redacted>))");
    }

    #[test]
    fn transaction_statuses_move_forward_only() {
        use TransactionStatus::*;
        Pending.check_transition(Paid).unwrap();
        Paid.check_transition(Refunded).unwrap();
        assert_eq!(rule(Refunded.check_transition(Paid).unwrap_err()), "transition_invalid");
        assert_eq!(rule(Cancelled.check_transition(Paid).unwrap_err()), "transition_invalid");
    }
}
