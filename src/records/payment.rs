//! Payment details (L1): card numbers and bank accounts. Their values are
//! validated and masked here and never appear in an error message or in
//! `Debug` output; errors name the field and the rule only.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The digits of `text` with spaces and dashes (as people write card and
/// account numbers) removed; `None` if anything else is in it.
fn digits_of(text: &str) -> Option<Zeroizing<String>> {
    let mut digits = Zeroizing::new(String::with_capacity(text.len()));
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return None,
        }
    }
    Some(digits)
}

/// Whether `digits` pass the Luhn check (ISO/IEC 7812).
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// A payment card number: 12 to 19 digits passing the Luhn check. Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(Zeroizing<String>);

impl CardNumber {
    /// Validates `text` (digits, optionally grouped with spaces or dashes).
    pub fn parse(text: &str) -> Result<CardNumber> {
        let digits = digits_of(text)
            .ok_or_else(|| Error::invalid("card_number", "card_syntax", "a card number holds digits only"))?;
        if !(12..=19).contains(&digits.len()) {
            return Err(Error::invalid("card_number", "card_length", "a card number has 12 to 19 digits"));
        }
        if !luhn(&digits) {
            return Err(Error::invalid("card_number", "card_luhn", "the card number fails its check digit (Luhn)"));
        }
        Ok(CardNumber(digits))
    }

    /// The digits, for sealing (never for display).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `**** **** **** 1234`: what a role allowed to know a card exists sees.
    pub fn masked(&self) -> String {
        format!("**** **** **** {}", &self.0[self.0.len() - 4..])
    }
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

/// A bank account number: 8 to 34 letters and digits (mainland accounts
/// are 16 to 19 digits; an IBAN is up to 34 characters). Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct BankAccount(Zeroizing<String>);

impl BankAccount {
    /// Validates `text` (spaces and dashes between groups are dropped).
    pub fn parse(text: &str) -> Result<BankAccount> {
        let mut account = Zeroizing::new(String::with_capacity(text.len()));
        for c in text.chars() {
            match c {
                c if c.is_ascii_alphanumeric() => account.push(c.to_ascii_uppercase()),
                ' ' | '-' => {}
                _ => {
                    return Err(Error::invalid(
                        "bank_account",
                        "account_syntax",
                        "a bank account holds letters and digits only",
                    ));
                }
            }
        }
        if !(8..=34).contains(&account.len()) {
            return Err(Error::invalid("bank_account", "account_length", "a bank account has 8 to 34 characters"));
        }
        Ok(BankAccount(account))
    }

    /// The account, for sealing (never for display).
    pub fn text(&self) -> &str {
        &self.0
    }

    /// `**** 5678`.
    pub fn masked(&self) -> String {
        format!("**** {}", &self.0[self.0.len() - 4..])
    }
}

impl std::fmt::Debug for BankAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BankAccount({})", self.masked())
    }
}

/// Payment details of a transaction: a card or a bank account (L1).
#[derive(Clone, PartialEq, Eq)]
pub enum PaymentDetails {
    /// A payment card.
    Card(CardNumber),
    /// A bank account.
    BankAccount(BankAccount),
}

impl PaymentDetails {
    /// The stored (sealed) form: `card:<digits>` or `account:<characters>`.
    pub(crate) fn stored(&self) -> Zeroizing<String> {
        Zeroizing::new(match self {
            PaymentDetails::Card(card) => format!("card:{}", card.digits()),
            PaymentDetails::BankAccount(account) => format!("account:{}", account.text()),
        })
    }

    /// Reads the stored form back (`None` if it is not one).
    pub(crate) fn from_stored(stored: &str) -> Option<PaymentDetails> {
        if let Some(digits) = stored.strip_prefix("card:") {
            return CardNumber::parse(digits).ok().map(PaymentDetails::Card);
        }
        stored.strip_prefix("account:").and_then(|a| BankAccount::parse(a).ok()).map(PaymentDetails::BankAccount)
    }

    /// The masked rendering: `**** **** **** 1234` for a card, `**** 5678` for an account.
    pub fn masked(&self) -> String {
        match self {
            PaymentDetails::Card(card) => card.masked(),
            PaymentDetails::BankAccount(account) => account.masked(),
        }
    }
}

impl std::fmt::Debug for PaymentDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaymentDetails::Card(card) => card.fmt(f),
            PaymentDetails::BankAccount(account) => account.fmt(f),
        }
    }
}

/// Masks a stored `transaction.payment_details` value.
pub(crate) fn mask_details(stored: &str) -> String {
    PaymentDetails::from_stored(stored).map_or_else(|| "***".to_owned(), |d| d.masked())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(e: Error) -> (&'static str, String) {
        let text = e.to_string();
        match e {
            Error::Invalid { rule, .. } => (rule, text),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn card_numbers_are_checked_and_masked_and_never_shown() {
        let card = CardNumber::parse("4111 1111 1111 1111").unwrap();
        assert_eq!(card.digits(), "4111111111111111");
        assert_eq!(card.masked(), "**** **** **** 1111");
        assert_eq!(format!("{card:?}"), "CardNumber(**** **** **** 1111)");
        // UnionPay's 16-digit test card, and a 19-digit number written with dashes.
        assert_eq!(CardNumber::parse("6200000000000005").unwrap().masked(), "**** **** **** 0005");
        assert_eq!(CardNumber::parse("6222-0212-3456-7890-128").unwrap().digits().len(), 19);
        for (bad, expected) in [
            ("4111 1111 1111 1112", "card_luhn"),
            ("4111", "card_length"),
            ("41111111111111111111", "card_length"),
            ("4111 1111 1111 111x", "card_syntax"),
            ("４１１１１１１１１１１１１１１１", "card_syntax"),
        ] {
            let (rule, text) = rule(CardNumber::parse(bad).unwrap_err());
            assert_eq!(rule, expected, "{bad}");
            assert!(!text.contains("1111 1111") && !text.contains("41111"), "the value stays out of the error: {text}");
        }
    }

    #[test]
    fn bank_accounts_are_checked_and_masked() {
        let account = BankAccount::parse("6217 0012 3456 7890 123").unwrap();
        assert_eq!(account.masked(), "**** 0123");
        assert_eq!(format!("{account:?}"), "BankAccount(**** 0123)");
        assert_eq!(BankAccount::parse("de89 3704 0044 0532 0130 00").unwrap().text(), "DE89370400440532013000");
        assert_eq!(rule(BankAccount::parse("1234567").unwrap_err()).0, "account_length");
        assert_eq!(rule(BankAccount::parse("12345678;DROP").unwrap_err()).0, "account_syntax");
    }

    #[test]
    fn stored_details_read_back_and_mask() {
        let card = PaymentDetails::Card(CardNumber::parse("4111-1111-1111-1111").unwrap());
        assert_eq!(card.stored().as_str(), "card:4111111111111111");
        assert_eq!(mask_details(&card.stored()), "**** **** **** 1111");
        let account = PaymentDetails::BankAccount(BankAccount::parse("6217001234567890123").unwrap());
        assert_eq!(PaymentDetails::from_stored(&account.stored()), Some(account));
        assert_eq!(mask_details("garbage"), "***");
    }
}
