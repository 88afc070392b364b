//! Exact money: integer amounts in a currency's minor unit. No floating
//! point anywhere; every sum and product is checked, and an overflow is an
//! error naming the rule, never a wrapped amount.

use crate::error::{Error, Result};

/// An ISO 4217 currency and the exponent of its minor unit (2 for CNY: an
/// amount of 1234 is 12.34 yuan; 0 for JPY; 3 for KWD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Active ISO 4217 codes with their minor-unit exponents (ISO 4217 list
/// one). Codes absent here are refused; a currency is added by adding a row.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

impl Currency {
    /// The currency with ISO 4217 code `code` (three letters, any case).
    pub fn from_code(code: &str) -> Result<Currency> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(code, exponent)| Currency { code, exponent: *exponent })
            .ok_or_else(|| {
                let shown: String = code.chars().take(8).collect();
                Error::invalid("currency", "currency_unknown", format!("'{shown}' is not an ISO 4217 currency code"))
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point in its minor unit.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

/// An amount of money in minor units (fen for CNY), signed so refunds and
/// discounts can be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

fn overflow(field: &str) -> Error {
    Error::invalid(field, "amount_overflow", "the amount is too large to represent exactly")
}

impl Money {
    /// `minor` minor units of `currency`.
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal amount such as `"12.34"` or `"-0.5"` exactly: at
    /// most the currency's exponent of decimals, no exponent notation, no
    /// thousands separators. `field` names the value in errors.
    pub fn parse(text: &str, currency: Currency, field: &str) -> Result<Money> {
        let syntax =
            || Error::invalid(field, "amount_syntax", "an amount is digits with an optional sign and decimal point");
        let trimmed = text.trim();
        let (negative, digits) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
            return Err(syntax());
        }
        if fraction.len() > currency.exponent as usize {
            return Err(Error::invalid(
                field,
                "amount_precision",
                format!("{} allows at most {} decimals", currency.code, currency.exponent),
            ));
        }
        let scale = 10i64.pow(u32::from(currency.exponent));
        let mut minor: i64 = 0;
        for b in whole.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(|| overflow(field))?;
        }
        minor = minor.checked_mul(scale).ok_or_else(|| overflow(field))?;
        let padded = format!("{fraction:0<width$}", width = currency.exponent as usize);
        let fraction_minor: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| syntax())? };
        minor = minor.checked_add(fraction_minor).ok_or_else(|| overflow(field))?;
        Ok(Money { minor: if negative { -minor } else { minor }, currency })
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// `self + other`, refusing another currency or an overflow.
    pub fn checked_add(self, other: Money, field: &str) -> Result<Money> {
        if self.currency != other.currency {
            return Err(Error::invalid(
                field,
                "currency_mismatch",
                format!("cannot add {} to {}", other.currency.code, self.currency.code),
            ));
        }
        let minor = self.minor.checked_add(other.minor).ok_or_else(|| overflow(field))?;
        Ok(Money { minor, currency: self.currency })
    }

    /// `self × quantity`, refusing an overflow.
    pub fn checked_times(self, quantity: u32, field: &str) -> Result<Money> {
        let minor = self.minor.checked_mul(i64::from(quantity)).ok_or_else(|| overflow(field))?;
        Ok(Money { minor, currency: self.currency })
    }
}

impl std::fmt::Display for Money {
    /// `12.34 CNY`, `-5 JPY`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let exponent = u32::from(self.currency.exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency.code);
        }
        let scale = 10u64.pow(exponent);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            magnitude / scale,
            magnitude % scale,
            self.currency.code,
            width = exponent as usize
        )
    }
}

/// One line of an order: an item, how many, and the price of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// What was bought.
    pub item: String,
    /// How many (at least 1).
    pub quantity: u32,
    /// The price of one, in the order's currency.
    pub unit_price: Money,
}

/// Checks that `total` equals the sum of the lines plus the stated
/// adjustments (discounts negative, fees positive), all in one currency and
/// without overflow. `Err` names the line and the rule: `quantity_not_positive`,
/// `price_negative`, `currency_mismatch`, `amount_overflow` or
/// `total_mismatch`.
pub fn check_total(lines: &[OrderLine], adjustments: &[Money], total: Money) -> Result<()> {
    if lines.is_empty() {
        return Err(Error::invalid("items", "items_empty", "an order has at least one item"));
    }
    let mut sum = Money::from_minor(0, total.currency);
    for (i, line) in lines.iter().enumerate() {
        let field = format!("items[{i}]");
        if line.quantity == 0 {
            return Err(Error::invalid(field, "quantity_not_positive", "a quantity is at least 1"));
        }
        if line.unit_price.minor < 0 {
            return Err(Error::invalid(
                field,
                "price_negative",
                "a unit price is not negative (state a discount as an adjustment)",
            ));
        }
        sum = sum.checked_add(line.unit_price.checked_times(line.quantity, &field)?, &field)?;
    }
    for (i, adjustment) in adjustments.iter().enumerate() {
        sum = sum.checked_add(*adjustment, &format!("adjustments[{i}]"))?;
    }
    if sum.currency != total.currency {
        return Err(Error::invalid("total", "currency_mismatch", "the total is in another currency than the items"));
    }
    if sum.minor != total.minor {
        return Err(Error::invalid(
            "total",
            "total_mismatch",
            format!("the total is {total}, but the items and adjustments add up to {sum}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::from_code("cny").unwrap()
    }

    fn rule(e: Error) -> &'static str {
        match e {
            Error::Invalid { rule, .. } => rule,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn amounts_parse_exactly_in_the_currencys_minor_unit() {
        assert_eq!(Money::parse("12.34", cny(), "total").unwrap().minor(), 1234);
        assert_eq!(Money::parse("12.3", cny(), "total").unwrap().minor(), 1230);
        assert_eq!(Money::parse("-0.05", cny(), "total").unwrap().minor(), -5);
        assert_eq!(Money::parse(".5", cny(), "total").unwrap().minor(), 50);
        assert_eq!(Money::parse("1500", Currency::from_code("JPY").unwrap(), "total").unwrap().minor(), 1500);
        assert_eq!(Money::parse("1.234", Currency::from_code("KWD").unwrap(), "total").unwrap().minor(), 1234);
        assert_eq!(rule(Money::parse("12.345", cny(), "total").unwrap_err()), "amount_precision");
        assert_eq!(
            rule(Money::parse("1.5", Currency::from_code("JPY").unwrap(), "t").unwrap_err()),
            "amount_precision"
        );
        for bad in ["", ".", "1e3", "1,000", "12.3.4", "--1", "abc", "0x10"] {
            assert_eq!(rule(Money::parse(bad, cny(), "total").unwrap_err()), "amount_syntax", "{bad:?}");
        }
        assert_eq!(rule(Money::parse("92233720368547758.08", cny(), "total").unwrap_err()), "amount_overflow");
        assert_eq!(rule(Money::parse("99999999999999999999", cny(), "total").unwrap_err()), "amount_overflow");
        assert_eq!(Money::parse("92233720368547758.07", cny(), "total").unwrap().minor(), i64::MAX);
    }

    #[test]
    fn unknown_currencies_are_refused_and_amounts_print_with_their_code() {
        assert_eq!(rule(Currency::from_code("XYZ").unwrap_err()), "currency_unknown");
        assert_eq!(rule(Currency::from_code("人民币").unwrap_err()), "currency_unknown");
        assert_eq!(Money::from_minor(1234, cny()).to_string(), "12.34 CNY");
        assert_eq!(Money::from_minor(-5, cny()).to_string(), "-0.05 CNY");
        assert_eq!(Money::from_minor(i64::MIN, cny()).to_string(), "-92233720368547758.08 CNY");
        assert_eq!(Money::from_minor(1500, Currency::from_code("JPY").unwrap()).to_string(), "1500 JPY");
        assert_eq!(Money::from_minor(1, Currency::from_code("BHD").unwrap()).to_string(), "0.001 BHD");
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0), "the table is sorted and has no duplicates");
    }

    #[test]
    fn a_total_must_equal_its_lines_and_adjustments() {
        let line = |item: &str, quantity, price| OrderLine {
            item: item.into(),
            quantity,
            unit_price: Money::from_minor(price, cny()),
        };
        let lines = [line("茶叶", 2, 8800), line("茶具", 1, 12000)];
        check_total(&lines, &[], Money::from_minor(29600, cny())).unwrap();
        check_total(&lines, &[Money::from_minor(-600, cny())], Money::from_minor(29000, cny())).unwrap();
        let e = check_total(&lines, &[], Money::from_minor(29000, cny())).unwrap_err();
        assert!(e.to_string().contains("add up to 296.00 CNY"), "{e}");
        assert_eq!(rule(e), "total_mismatch");
        assert_eq!(
            rule(check_total(&[line("x", 0, 1)], &[], Money::from_minor(0, cny())).unwrap_err()),
            "quantity_not_positive"
        );
        assert_eq!(
            rule(check_total(&[line("x", 1, -1)], &[], Money::from_minor(-1, cny())).unwrap_err()),
            "price_negative"
        );
        assert_eq!(rule(check_total(&[], &[], Money::from_minor(0, cny())).unwrap_err()), "items_empty");
        let huge = [line("x", u32::MAX, i64::MAX / 2)];
        assert_eq!(rule(check_total(&huge, &[], Money::from_minor(0, cny())).unwrap_err()), "amount_overflow");
        let usd = Money::from_minor(-1, Currency::from_code("USD").unwrap());
        assert_eq!(
            rule(check_total(&lines, &[usd], Money::from_minor(29599, cny())).unwrap_err()),
            "currency_mismatch"
        );
    }
}
