//! Fields, sensitivity levels and the field catalogue.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sensitivity level of a field (MISSION: three levels from seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Identity and financial data (ID number, birth date, payment data).
    L1,
    /// Personal data with restricted access (name, contact details, notes).
    L2,
    /// Public or classification data (category, tier, source).
    L3,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::L1 => "L1",
            Level::L2 => "L2",
            Level::L3 => "L3",
        })
    }
}

/// How a field is kept at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Classification or bookkeeping attribute, stored in plaintext so it can be filtered on.
    Plain,
    /// Personal data, stored only as AES-256-GCM ciphertext under the customer's data key.
    Sealed,
}

/// A field of a customer record.
///
/// The first group is the prototype's `khzl` struct (编号 姓名 单位 类别 职务 手机 邮箱 备注),
/// then the fields the regulations add, then bookkeeping fields that are
/// read-only to callers, then custom attributes declared in the [`Catalogue`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// 编号: the organisation's own customer code (letters, digits, `-_.`), unique.
    ExternalCode,
    /// 姓名: the person's name; for an organisation, its contact person.
    Name,
    /// 单位: the organisation (employer, or the organisation customer itself).
    Organisation,
    /// 类别: customer category (classification).
    Category,
    /// 职务: job title.
    Title,
    /// 手机: mobile number, mainland 11-digit or E.164.
    Mobile,
    /// 邮箱: e-mail address.
    Email,
    /// 备注: free-text notes.
    Notes,
    /// Postal or registered address.
    Address,
    /// Gender: `male`, `female`, `other` or `unknown` (男/女 accepted).
    Gender,
    /// Birth date, `YYYY-MM-DD`.
    BirthDate,
    /// Mainland resident identity card number (GB 11643, 18 characters).
    IdNumber,
    /// Source channel (how the customer came to us).
    Source,
    /// Value tier: `A`, `B` or `C`.
    Tier,
    /// Tags, comma-separated.
    Tags,
    /// Customer kind: `individual` or `organisation`.
    Kind,
    /// 统一社会信用代码: an organisation's unified social credit code (GB
    /// 32100-2015, 18 characters with a check character); blind-indexed.
    CreditCode,
    /// 注册地址: an organisation's registered address (beside its contact address).
    RegisteredAddress,
    /// 座机: a landline number with area code and optional extension, `010-12345678-801`.
    Landline,
    /// 联系人: an organisation's contact persons, a JSON array of
    /// `{"name", "title", "mobile", "email", "landline"}` (see [`super::Contact`]).
    Contacts,
    /// Record status (`active`, ...); read-only.
    Status,
    /// Creation time (Unix milliseconds, UTC); read-only.
    CreatedAt,
    /// Last-change time (Unix milliseconds, UTC); read-only.
    UpdatedAt,
    /// Version number for optimistic concurrency; read-only.
    Version,
    /// A custom attribute declared in the catalogue; named `custom.<key>`.
    Custom(String),

    // Fields of the records attached to a customer (see [`crate::records`]).
    /// `transaction.reference`: the order reference.
    OrderReference,
    /// `transaction.time`: when the transaction took place (Unix ms).
    OrderTime,
    /// `transaction.status`: `pending`, `paid`, `refunded`, ...
    OrderStatus,
    /// `transaction.items`: the order lines and adjustments (JSON, exact amounts).
    OrderItems,
    /// `transaction.total`: the total, e.g. `296.00 CNY`.
    OrderTotal,
    /// `transaction.payment_method`: cash, bank card, WeChat Pay, ...
    PaymentMethod,
    /// `transaction.payment_details`: the card number or bank account (L1).
    PaymentDetails,
    /// `service.kind`: consultation, complaint, feedback, repair, other.
    ServiceKind,
    /// `service.channel`: how the customer reached us.
    ServiceChannel,
    /// `service.subject`: a one-line summary.
    ServiceSubject,
    /// `service.description`: what the customer said.
    ServiceDescription,
    /// `service.priority`: low, normal, high, urgent.
    ServicePriority,
    /// `service.owner`: the principal who handles the record.
    ServiceOwner,
    /// `service.status`: open, in_progress, resolved, closed, reopened (with its history).
    ServiceStatus,
    /// `service.opened_at`: when the record was opened (Unix ms).
    ServiceOpenedAt,
    /// `service.due_at`: when it is due (Unix ms).
    ServiceDueAt,
    /// `service.resolution`: how it was resolved.
    ServiceResolution,
}

/// What kind of record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// The customer itself.
    Customer,
    /// A transaction (an order and its payment).
    Transaction,
    /// An after-sales service record.
    Service,
}

impl RecordKind {
    /// Stable name (`customer`, `transaction`, `service`).
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Customer => "customer",
            RecordKind::Transaction => "transaction",
            RecordKind::Service => "service",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Result<RecordKind> {
        [RecordKind::Customer, RecordKind::Transaction, RecordKind::Service]
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::invalid("kind", "record_kind", "must be one of: customer, transaction, service"))
    }
}

/// The fields of attached records, transactions first.
pub const RECORD_FIELDS: [Field; 17] = [
    Field::OrderReference,
    Field::OrderTime,
    Field::OrderStatus,
    Field::OrderItems,
    Field::OrderTotal,
    Field::PaymentMethod,
    Field::PaymentDetails,
    Field::ServiceKind,
    Field::ServiceChannel,
    Field::ServiceSubject,
    Field::ServiceDescription,
    Field::ServicePriority,
    Field::ServiceOwner,
    Field::ServiceStatus,
    Field::ServiceOpenedAt,
    Field::ServiceDueAt,
    Field::ServiceResolution,
];

/// The built-in fields, in display order.
pub const BUILTIN_FIELDS: [Field; 24] = [
    Field::ExternalCode,
    Field::Kind,
    Field::Name,
    Field::Organisation,
    Field::Category,
    Field::Title,
    Field::Mobile,
    Field::Email,
    Field::Notes,
    Field::Address,
    Field::Gender,
    Field::BirthDate,
    Field::IdNumber,
    Field::Source,
    Field::Tier,
    Field::Tags,
    Field::CreditCode,
    Field::RegisteredAddress,
    Field::Landline,
    Field::Contacts,
    Field::Status,
    Field::CreatedAt,
    Field::UpdatedAt,
    Field::Version,
];

/// Prefix of custom attribute field names.
pub const CUSTOM_PREFIX: &str = "custom.";

impl Field {
    /// The stable snake_case name of the field (`custom.<key>` for custom attributes).
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Field::ExternalCode => Borrowed("external_code"),
            Field::Name => Borrowed("name"),
            Field::Organisation => Borrowed("organisation"),
            Field::Category => Borrowed("category"),
            Field::Title => Borrowed("title"),
            Field::Mobile => Borrowed("mobile"),
            Field::Email => Borrowed("email"),
            Field::Notes => Borrowed("notes"),
            Field::Address => Borrowed("address"),
            Field::Gender => Borrowed("gender"),
            Field::BirthDate => Borrowed("birth_date"),
            Field::IdNumber => Borrowed("id_number"),
            Field::Source => Borrowed("source"),
            Field::Tier => Borrowed("tier"),
            Field::Tags => Borrowed("tags"),
            Field::Kind => Borrowed("kind"),
            Field::CreditCode => Borrowed("credit_code"),
            Field::RegisteredAddress => Borrowed("registered_address"),
            Field::Landline => Borrowed("landline"),
            Field::Contacts => Borrowed("contacts"),
            Field::Status => Borrowed("status"),
            Field::CreatedAt => Borrowed("created_at"),
            Field::UpdatedAt => Borrowed("updated_at"),
            Field::Version => Borrowed("version"),
            Field::Custom(key) => std::borrow::Cow::Owned(format!("{CUSTOM_PREFIX}{key}")),
            Field::OrderReference => Borrowed("transaction.reference"),
            Field::OrderTime => Borrowed("transaction.time"),
            Field::OrderStatus => Borrowed("transaction.status"),
            Field::OrderItems => Borrowed("transaction.items"),
            Field::OrderTotal => Borrowed("transaction.total"),
            Field::PaymentMethod => Borrowed("transaction.payment_method"),
            Field::PaymentDetails => Borrowed("transaction.payment_details"),
            Field::ServiceKind => Borrowed("service.kind"),
            Field::ServiceChannel => Borrowed("service.channel"),
            Field::ServiceSubject => Borrowed("service.subject"),
            Field::ServiceDescription => Borrowed("service.description"),
            Field::ServicePriority => Borrowed("service.priority"),
            Field::ServiceOwner => Borrowed("service.owner"),
            Field::ServiceStatus => Borrowed("service.status"),
            Field::ServiceOpenedAt => Borrowed("service.opened_at"),
            Field::ServiceDueAt => Borrowed("service.due_at"),
            Field::ServiceResolution => Borrowed("service.resolution"),
        }
    }

    /// Parses a field name as produced by [`Field::name`]. Custom keys are
    /// checked for syntax only; whether the catalogue knows them is checked by
    /// [`Catalogue::check_field`].
    pub fn parse(name: &str) -> Result<Field> {
        if let Some(key) = name.strip_prefix(CUSTOM_PREFIX) {
            if is_custom_key(key) {
                return Ok(Field::Custom(key.to_owned()));
            }
            return Err(Error::UnknownField(name.to_owned()));
        }
        BUILTIN_FIELDS
            .iter()
            .chain(RECORD_FIELDS.iter())
            .find(|f| f.name() == name)
            .cloned()
            .ok_or_else(|| Error::UnknownField(name.to_owned()))
    }

    /// The kind of record the field belongs to.
    pub fn record_kind(&self) -> RecordKind {
        match self {
            Field::OrderReference
            | Field::OrderTime
            | Field::OrderStatus
            | Field::OrderItems
            | Field::OrderTotal
            | Field::PaymentMethod
            | Field::PaymentDetails => RecordKind::Transaction,
            Field::ServiceKind
            | Field::ServiceChannel
            | Field::ServiceSubject
            | Field::ServiceDescription
            | Field::ServicePriority
            | Field::ServiceOwner
            | Field::ServiceStatus
            | Field::ServiceOpenedAt
            | Field::ServiceDueAt
            | Field::ServiceResolution => RecordKind::Service,
            _ => RecordKind::Customer,
        }
    }

    /// How the field is kept at rest. Only classification and bookkeeping
    /// attributes are plaintext; everything that identifies or describes a
    /// person is sealed.
    pub fn storage(&self) -> Storage {
        match self {
            Field::ExternalCode
            | Field::Kind
            | Field::Category
            | Field::Source
            | Field::Tier
            | Field::Status
            | Field::CreatedAt
            | Field::UpdatedAt
            | Field::Version
            // The bookkeeping of attached records: what deadlines, timelines
            // and statistics filter on. Nothing in it describes a person.
            | Field::OrderTime
            | Field::OrderStatus
            | Field::ServiceKind
            | Field::ServiceChannel
            | Field::ServicePriority
            | Field::ServiceOwner
            | Field::ServiceStatus
            | Field::ServiceOpenedAt
            | Field::ServiceDueAt => Storage::Plain,
            _ => Storage::Sealed,
        }
    }

    /// Whether callers may set this field (bookkeeping fields are maintained by the store).
    pub fn is_writable(&self) -> bool {
        !matches!(self, Field::Status | Field::CreatedAt | Field::UpdatedAt | Field::Version)
    }

    /// The default sensitivity level.
    pub fn default_level(&self) -> Level {
        match self {
            Field::IdNumber | Field::BirthDate | Field::PaymentDetails => Level::L1,
            f if f.storage() == Storage::Plain => Level::L3,
            _ => Level::L2,
        }
    }

    /// Fields that get a blind index for exact lookup.
    pub fn has_blind_index(&self) -> bool {
        matches!(self, Field::Mobile | Field::Email | Field::IdNumber | Field::CreditCode)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name())
    }
}

/// Syntax of a custom attribute key: `[a-z][a-z0-9_]{0,31}`.
pub(crate) fn is_custom_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 32
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// A custom attribute declared in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    /// Its sensitivity level.
    pub level: Level,
    /// Maximum length in characters.
    pub max_chars: usize,
}

impl Default for CustomAttribute {
    fn default() -> Self {
        CustomAttribute { level: Level::L2, max_chars: 256 }
    }
}

/// The field catalogue: every field's sensitivity level, and which custom
/// attributes exist. Fixed when a store is created and kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Levels that differ from [`Field::default_level`], by field name.
    overrides: BTreeMap<String, Level>,
    /// Declared custom attributes, by key.
    custom: BTreeMap<String, CustomAttribute>,
    /// When closed, custom attribute keys not declared here are refused.
    closed: bool,
    /// Which fields keyword search covers and how their index is kept
    /// (absent from catalogues written before the index existed: the default).
    #[serde(default)]
    search: crate::search::SearchSettings,
}

impl Default for Catalogue {
    /// The default catalogue: default levels, no custom attributes, closed.
    fn default() -> Self {
        Catalogue {
            overrides: BTreeMap::new(),
            custom: BTreeMap::new(),
            closed: true,
            search: crate::search::SearchSettings::default(),
        }
    }
}

impl Catalogue {
    /// Overrides the level of a built-in field. Plaintext-stored fields
    /// (classification and bookkeeping) must stay L3: a field that needs
    /// protection must be sealed, and those are fixed by the schema.
    pub fn with_level(mut self, field: Field, level: Level) -> Result<Self> {
        if let Field::Custom(key) = &field {
            let attr = self.custom.get_mut(key).ok_or_else(|| Error::UnknownField(field.name().into_owned()))?;
            attr.level = level;
            return Ok(self);
        }
        if field.storage() == Storage::Plain && level != Level::L3 {
            return Err(Error::invalid(
                field.name(),
                "catalogue.plain_field_level",
                format!("'{field}' is stored in plaintext for filtering and can only be L3"),
            ));
        }
        if field == Field::PaymentDetails && level != Level::L1 {
            return Err(Error::invalid(
                field.name(),
                "catalogue.payment_level",
                "payment details (card numbers, bank accounts) are always L1",
            ));
        }
        // L1 fields are never searched: a field made L1 leaves the search fields.
        if level == Level::L1 {
            self.search.fields.remove(field.name().as_ref());
        }
        if level == field.default_level() {
            self.overrides.remove(field.name().as_ref());
        } else {
            self.overrides.insert(field.name().into_owned(), level);
        }
        Ok(self)
    }

    /// Declares a custom attribute `key` (`[a-z][a-z0-9_]{0,31}`).
    pub fn with_custom(mut self, key: &str, attribute: CustomAttribute) -> Result<Self> {
        if !is_custom_key(key) {
            return Err(Error::invalid(
                format!("{CUSTOM_PREFIX}{key}"),
                "catalogue.custom_key",
                "custom attribute keys are 1-32 characters of a-z, 0-9 and _, starting with a letter",
            ));
        }
        if attribute.max_chars == 0 || attribute.max_chars > 65_536 {
            return Err(Error::invalid(
                format!("{CUSTOM_PREFIX}{key}"),
                "catalogue.custom_max_chars",
                "max_chars must be between 1 and 65536",
            ));
        }
        self.custom.insert(key.to_owned(), attribute);
        Ok(self)
    }

    /// Sets the fields keyword search covers (default: name, organisation,
    /// title, address, notes, tags). Each must be a sealed text field of
    /// level L2 or L3 (rule `catalogue.search_field`): L1 fields are never
    /// searched, classification attributes are filters, and fixed-form
    /// fields (mobile and e-mail may be added; identity and credit codes,
    /// birth date and gender may not) have exact lookups. Declare custom
    /// attributes before naming them here.
    pub fn with_search_fields(mut self, fields: impl IntoIterator<Item = Field>) -> Result<Self> {
        let mut names = std::collections::BTreeSet::new();
        for field in fields {
            self.check_field(&field)?;
            if let Field::Custom(key) = &field {
                if !self.custom.contains_key(key) {
                    return Err(Error::UnknownField(field.name().into_owned()));
                }
            }
            crate::search::check_searchable(&field, self.level(&field))?;
            names.insert(field.name().into_owned());
        }
        self.search.fields = names;
        Ok(self)
    }

    /// Keeps (`true`, the default) or does not keep the encrypted keyword
    /// index. Without it every keyword search decrypts and scans every
    /// customer, and writes cost less.
    pub fn with_search_index(mut self, index: bool) -> Self {
        self.search.index = index;
        self
    }

    /// Sets how many bits of each index token's HMAC are kept (16 to 48,
    /// default 20; rule `catalogue.search_token_bits`). Fewer bits merge
    /// more distinct grams into one token: the file reveals less about which
    /// customers share text, and searches re-check more candidates.
    pub fn with_search_token_bits(mut self, bits: u8) -> Result<Self> {
        if !crate::search::TOKEN_BITS.contains(&bits) {
            return Err(Error::invalid(
                "search.token_bits",
                "catalogue.search_token_bits",
                format!(
                    "index tokens keep {} to {} bits",
                    crate::search::TOKEN_BITS.start(),
                    crate::search::TOKEN_BITS.end()
                ),
            ));
        }
        self.search.token_bits = bits;
        Ok(self)
    }

    /// How keyword search works in this store.
    pub fn search(&self) -> &crate::search::SearchSettings {
        &self.search
    }

    /// The declared custom attribute keys, in order.
    pub(crate) fn custom_keys(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }

    /// Opens (`false`) or closes (`true`) the catalogue to undeclared custom attributes.
    pub fn closed(mut self, closed: bool) -> Self {
        self.closed = closed;
        self
    }

    /// Whether undeclared custom attributes are refused.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The sensitivity level of `field`.
    pub fn level(&self, field: &Field) -> Level {
        match field {
            Field::Custom(key) => self.custom.get(key).map_or(Level::L2, |a| a.level),
            f => self.overrides.get(f.name().as_ref()).copied().unwrap_or_else(|| f.default_level()),
        }
    }

    /// The declared custom attributes.
    pub fn custom_attributes(&self) -> impl Iterator<Item = (&str, &CustomAttribute)> {
        self.custom.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks that `field` is a customer field this catalogue knows (a
    /// field of an attached record is not one).
    pub fn check_field(&self, field: &Field) -> Result<()> {
        if field.record_kind() != RecordKind::Customer {
            return Err(Error::invalid(
                field.name(),
                "catalogue.record_field",
                format!("'{field}' belongs to a {} record, not to the customer", field.record_kind().name()),
            ));
        }
        if let Field::Custom(key) = field {
            if self.closed && !self.custom.contains_key(key) {
                return Err(Error::invalid(
                    field.name(),
                    "catalogue.closed",
                    "custom attribute is not declared and the catalogue is closed",
                ));
            }
        }
        Ok(())
    }

    /// Maximum length in characters of a custom attribute.
    pub(crate) fn custom_max_chars(&self, key: &str) -> usize {
        self.custom.get(key).map_or(CustomAttribute::default().max_chars, |a| a.max_chars)
    }

    /// Every field a policy decides on: the customer's fields, then those
    /// of attached records.
    pub fn all_fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.fields().chain(RECORD_FIELDS.iter().cloned())
    }

    /// Every customer field this catalogue knows: built-ins then declared custom attributes.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        BUILTIN_FIELDS.iter().cloned().chain(self.custom.keys().map(|k| Field::Custom(k.clone())))
    }
}
