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
        Field::Address | Field::RegisteredAddress => {
            let head: String = value.chars().take(3).collect();
            format!("{head}***")
        }
        Field::CreditCode => mask_keep_ends(value, 2, 2),
        // The area code and the last two digits; no extension.
        Field::Landline => match value.split('-').collect::<Vec<_>>().as_slice() {
            [area, number, ..] if number.len() > 2 => {
                format!("{area}-{}{}", "*".repeat(number.len() - 2), &number[number.len() - 2..])
            }
            _ => "***".into(),
        },
        Field::Contacts => mask_contacts(value),
        Field::PaymentDetails => crate::records::payment::mask_details(value),
        _ => "***".into(),
    }
}

/// Each contact person masked part by part, as the customer's own fields are.
fn mask_contacts(value: &str) -> String {
    let Some(contacts) = crate::model::organisation_contacts(value) else { return "***".into() };
    let masked: Vec<crate::model::Contact> = contacts
        .into_iter()
        .map(|c| crate::model::Contact {
            name: mask(&Field::Name, &c.name),
            title: c.title.map(|_| "***".into()),
            mobile: c.mobile.map(|v| mask(&Field::Mobile, &v)),
            email: c.email.map(|v| mask(&Field::Email, &v)),
            landline: c.landline.map(|v| mask(&Field::Landline, &v)),
        })
        .collect();
    serde_json::to_string(&masked).unwrap_or_else(|_| "***".into())
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
        assert_eq!(mask(&Field::Landline, "010-12345678-801"), "010-******78");
        assert_eq!(mask(&Field::CreditCode, "91350100M000100Y43"), "91**************43");
        assert_eq!(
            mask(&Field::Contacts, r#"[{"name":"张三","title":"经理","mobile":"13812345678"}]"#),
            r#"[{"name":"张*","title":"***","mobile":"138****5678"}]"#
        );
    }
}
