//! Between validated values and stored rows: sealing, blind indexing,
//! unsealing, and rendering a view under a field plan.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::StoreInner;
use crate::access::{Decision, FieldPlan, mask};
use crate::crypto::{DataKey, FieldCipher};
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerView, Field, Shown, Storage, Withheld};
use crate::storage::{CustomerHeader, CustomerRow, WrappedKey};

/// Normalised plaintext values of one customer, zeroed on drop.
pub(crate) type Values = BTreeMap<Field, Zeroizing<String>>;

impl StoreInner {
    /// Unwraps a customer's data key.
    pub(crate) fn data_key(&self, id: CustomerId, key: Option<&WrappedKey>) -> Result<DataKey> {
        let key = key.ok_or(Error::DataKeyMissing(id))?;
        self.wrappers.unwrap_data_key(id, key.key_id, &key.wrapped)
    }

    /// Fills the plaintext header columns from `values`.
    pub(crate) fn header_from(&self, header: &mut CustomerHeader, values: &Values) {
        let get = |f: Field| values.get(&f).map(|v| v.as_str().to_owned());
        header.kind = get(Field::Kind).unwrap_or_else(|| "individual".into());
        header.external_code = get(Field::ExternalCode);
        header.category = get(Field::Category);
        header.source = get(Field::Source);
        header.tier = get(Field::Tier);
        header.region = values.get(&Field::Address).and_then(|a| crate::model::region::region_of(a));
    }

    /// Seals one field and, where it has one, computes its blind index.
    pub(crate) fn seal_field(
        &self,
        row: &mut CustomerRow,
        cipher: &FieldCipher,
        field: &Field,
        value: Option<&str>,
    ) -> Result<()> {
        let name = field.name().into_owned();
        row.sealed.remove(&name);
        row.blind.remove(&name);
        self.search.set_field(&mut row.search, field, value);
        if let Some(value) = value {
            row.sealed.insert(name.clone(), cipher.seal(field, value)?);
            if let Some(digest) = self.blind.digest(field, value) {
                row.blind.insert(name, digest);
            }
        }
        Ok(())
    }

    /// Decrypts every sealed field of a row.
    pub(crate) fn unseal_all(&self, row: &CustomerRow, key: &DataKey) -> Result<Values> {
        let cipher = FieldCipher::new(row.header.id, key);
        let mut values = header_values(&row.header);
        for (name, sealed) in &row.sealed {
            let field = Field::parse(name).map_err(|_| {
                Error::corrupt(format!("customer {} has an unknown stored field '{name}'", row.header.id))
            })?;
            values.insert(field.clone(), cipher.open(&field, sealed)?);
        }
        Ok(values)
    }

    /// Renders a customer for a session: plain, masked or withheld per field.
    /// Sealed fields are decrypted only when the plan lets the session see them.
    pub(crate) fn render(
        &self,
        header: &CustomerHeader,
        sealed: &BTreeMap<String, Vec<u8>>,
        key: Option<&WrappedKey>,
        plan: &FieldPlan,
    ) -> Result<CustomerView> {
        let data_key = if sealed.is_empty() { None } else { Some(self.data_key(header.id, key)?) };
        self.render_with(header, sealed, data_key.as_ref(), plan)
    }

    /// [`StoreInner::render`] with the data key already unwrapped.
    pub(crate) fn render_with(
        &self,
        header: &CustomerHeader,
        sealed: &BTreeMap<String, Vec<u8>>,
        data_key: Option<&DataKey>,
        plan: &FieldPlan,
    ) -> Result<CustomerView> {
        let plain = header_values(header);
        let mut view = CustomerView {
            id: header.id,
            version: header.version,
            values: BTreeMap::new(),
            levels: BTreeMap::new(),
            withheld: Vec::new(),
        };
        // Catalogue fields, then custom attributes an open catalogue stored without declaring them.
        let undeclared = sealed
            .keys()
            .filter_map(|name| Field::parse(name).ok())
            .filter(|f| matches!(f, Field::Custom(key) if self.catalogue.custom_attributes().all(|(k, _)| k != key)));
        let fields: Vec<Field> = self.catalogue.fields().chain(undeclared).collect();
        let cipher = data_key.map(|k| FieldCipher::new(header.id, k));
        for field in fields {
            let decision = plan.decision(&field);
            if let Decision::Deny(rule) = decision {
                view.withheld.push(Withheld { field, rule });
                continue;
            }
            let value: Option<Zeroizing<String>> = match field.storage() {
                Storage::Plain => plain.get(&field).cloned(),
                Storage::Sealed => match (sealed.get(field.name().as_ref()), &cipher) {
                    (Some(bytes), Some(cipher)) => Some(cipher.open(&field, bytes)?),
                    _ => None,
                },
            };
            let Some(value) = value else { continue };
            let shown = match decision {
                Decision::Allow => Shown::Plain(value.as_str().to_owned()),
                _ => Shown::Masked(mask(&field, &value)),
            };
            view.levels.insert(field.clone(), self.catalogue.level(&field));
            view.values.insert(field, shown);
        }
        Ok(view)
    }
}

/// The plaintext header columns as field values.
pub(crate) fn header_values(h: &CustomerHeader) -> Values {
    let mut v = Values::new();
    let mut put = |f: Field, s: String| {
        v.insert(f, Zeroizing::new(s));
    };
    put(Field::Kind, h.kind.clone());
    put(Field::Status, h.status.clone());
    put(Field::CreatedAt, h.created_at.to_string());
    put(Field::UpdatedAt, h.updated_at.to_string());
    put(Field::Version, h.version.to_string());
    for (f, o) in [
        (Field::ExternalCode, &h.external_code),
        (Field::Category, &h.category),
        (Field::Source, &h.source),
        (Field::Tier, &h.tier),
    ] {
        if let Some(s) = o {
            put(f, s.clone());
        }
    }
    v
}
