//! Masked renderings: show that a value exists and a little of its shape,
//! never enough to recover it.

use crate::model::Field;

/// Masks `value` of `field` (e.g. `138****5678`, `王*`, `u***@example.com`,
/// `3101**********1234`).
pub fn mask(field: &Field, value: &str) -> String {
    match field {
        Field::Mobile => mask_keep_ends(value, 3, 4),
        Field::IdNumber => mask_keep_ends(value, 4, 4),
        Field::Email => match value.split_once('@') {
            Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
            None => "***".into(),
        },
        Field::Name => {
            let mut chars = value.chars();
            let first = chars.next().unwrap_or('*');
            let rest = chars.filter(|c| !c.is_whitespace()).count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        Field::BirthDate => "****-**-**".into(),
        Field::Address => {
            let head: String = value.chars().take(3).collect();
            format!("{head}***")
        }
        Field::PaymentDetails => crate::records::payment::mask_details(value),
        _ => "***".into(),
    }
}

/// Keeps `head` leading and `tail` trailing characters; stars in between.
/// Values too short to keep both ends are fully starred.
fn mask_keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(3));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_the_mission_examples() {
        assert_eq!(mask(&Field::Mobile, "13812345678"), "138****5678");
        assert_eq!(mask(&Field::Name, "王五"), "王*");
        assert_eq!(mask(&Field::Name, "欧阳娜娜"), "欧***");
        assert_eq!(mask(&Field::Email, "user@example.com"), "u***@example.com");
        assert_eq!(mask(&Field::IdNumber, "31010119900307123X"), "3101**********123X");
        assert_eq!(mask(&Field::Mobile, "+44"), "***");
        assert_eq!(mask(&Field::Notes, "anything"), "***");
    }
}
