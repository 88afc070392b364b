//! Surnames whose reading differs from the one CLDR's pinyin collation gives
//! their first character (a polyphone sorts by its most common reading, so
//! 曾小贤 would sort among the C's, as céng), and compound surnames.
//!
//! Readings: the surname (姓) senses of 《现代汉语词典》(第7版, 商务印书馆,
//! 2016), spelled per GB/T 28039-2011 《中国人名汉语拼音字母拼写规则》. Each
//! surname is paired with a stand-in: characters whose only reading in
//! CLDR's `zh` collation is the surname's reading (增 zēng for 曾), which the
//! sort key uses in place of the surname. `tests/collation.rs` checks that
//! every stand-in sorts exactly where its reading belongs.

/// `(surname, reading, stand-in)`, compound surnames first so that they are
/// matched before a single character could be.
pub const SURNAMES: &[(&str, &str, &str)] = &[
    // Compound surnames (复姓).
    ("尉迟", "yùchí", "郁迟"),
    ("万俟", "mòqí", "莫齐"),
    ("长孙", "zhǎngsūn", "掌孙"),
    ("单于", "chányú", "蝉于"),
    ("令狐", "línghú", "零狐"),
    ("澹台", "tántái", "谈台"),
    ("欧阳", "ōuyáng", "欧阳"),
    ("诸葛", "zhūgě", "诸舸"),
    ("司马", "sīmǎ", "司马"),
    ("上官", "shàngguān", "上官"),
    // Single-character surnames read differently from the character's common reading.
    ("曾", "zēng", "增"),
    ("单", "shàn", "善"),
    ("仇", "qiú", "求"),
    ("解", "xiè", "谢"),
    ("区", "ōu", "欧"),
    ("朴", "piáo", "瓢"),
    ("查", "zhā", "渣"),
    ("盖", "gě", "舸"),
    ("缪", "miào", "妙"),
    ("覃", "qín", "秦"),
    ("乐", "yuè", "岳"),
    ("种", "chóng", "虫"),
    ("召", "shào", "邵"),
    ("任", "rén", "人"),
    ("华", "huà", "化"),
];

/// The surname `name` starts with, if the table has it: `(surname, stand-in)`.
pub(super) fn surname_of(name: &str) -> Option<(&'static str, &'static str)> {
    SURNAMES
        .iter()
        .find(|(surname, _, _)| name.starts_with(surname))
        .map(|(surname, _, stand_in)| (*surname, *stand_in))
}
