//! The platform's JSON shapes (province-api.md), camelCase on the wire. The catalogue types are
//! also what the gateway stores as JSON, so they derive both directions.
//!
//! The decision a reader needs: `Debug` of anything carrying a certificate number, a sensitive
//! licence field or a material's content is written by hand, so that no `{:?}` in a log line can
//! leak them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// 办件类型: `1` 即办件 (decided on the spot) or `2` 承诺件 (decided within the promised days).
/// Serialised as the integer; read from the integer or its string form, as provinces send both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemType {
    Instant,
    Promised,
}

impl ItemType {
    pub fn code(self) -> u8 {
        match self {
            Self::Instant => 1,
            Self::Promised => 2,
        }
    }
}

impl Serialize for ItemType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for ItemType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let code = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) => s.trim().to_owned(),
        };
        match code.as_str() {
            "1" => Ok(Self::Instant),
            "2" => Ok(Self::Promised),
            other => Err(serde::de::Error::custom(format!(
                "item type {other:?} is neither 1 nor 2"
            ))),
        }
    }
}

/// One material an item asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterialSpec {
    pub code: String,
    pub name: String,
    pub required: bool,
    /// File extensions accepted, e.g. `["pdf","jpg"]`.
    #[serde(default)]
    pub formats: Vec<String>,
    pub max_size_kb: u32,
    #[serde(default)]
    pub note: Option<String>,
}

/// One item of the service catalogue (事项), as the platform publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueItem {
    /// 实施编码: 31 characters.
    pub item_code: String,
    /// 业务办理项编码: up to 50 characters.
    pub handle_item_code: String,
    pub name: String,
    pub department: String,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// Working days the law allows.
    pub legal_days: u32,
    /// Working days the department promises.
    pub promised_days: u32,
    /// Yuan, as text (`"0"`, `"15.00"`).
    pub fee: String,
    #[serde(default)]
    pub materials: Vec<MaterialSpec>,
    /// 1–4; 4 is fully online.
    pub online_level: u8,
    pub bookable: bool,
    /// Hall codes where it can be handled.
    #[serde(default)]
    pub halls: Vec<String>,
    #[serde(default)]
    pub guide_url: Option<String>,
}

/// One page of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsPage {
    pub items: Vec<CatalogueItem>,
    /// The page to ask for next; `None` on the last page.
    pub next_page: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemsBody {
    pub items: Vec<CatalogueItem>,
    #[serde(default)]
    pub next_page: Option<u32>,
}

/// The applicant (申请人) or agent (代办人).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applicant {
    /// `1` a person, `2` an organisation.
    #[serde(rename = "type")]
    pub applicant_type: u8,
    pub name: String,
    /// `111` resident ID card, `001` unified social credit code.
    pub cert_type: String,
    pub cert_no: String,
    pub phone: String,
}

impl fmt::Debug for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applicant")
            .field("type", &self.applicant_type)
            .field("cert_type", &self.cert_type)
            .field("cert_no", &mask(&self.cert_no))
            .finish_non_exhaustive()
    }
}

/// Someone applying on another's behalf (代办).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub name: String,
    pub cert_type: String,
    pub cert_no: String,
    pub phone: String,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("cert_type", &self.cert_type)
            .field("cert_no", &mask(&self.cert_no))
            .finish_non_exhaustive()
    }
}

/// A material sent with an application or a supplement: the content travels base64-encoded.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterialUpload {
    pub code: String,
    pub name: String,
    /// Lowercase hex of the SHA-256 of the decoded content.
    pub sha256: String,
    /// Bytes of the decoded content.
    pub size: u64,
    pub content_type: String,
    /// Standard base64 with padding.
    pub content: String,
}

impl MaterialUpload {
    /// A material from its bytes, with the digest, size and encoding filled in.
    pub fn from_bytes(code: &str, name: &str, content_type: &str, bytes: &[u8]) -> Self {
        Self {
            code: code.to_owned(),
            name: name.to_owned(),
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
            content_type: content_type.to_owned(),
            content: STANDARD.encode(bytes),
        }
    }
}

impl fmt::Debug for MaterialUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterialUpload")
            .field("code", &self.code)
            .field("size", &self.size)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Where to post the result when `obtainWay` is 1.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostAddress {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
}

impl fmt::Debug for PostAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostAddress")
            .field("city", &self.city)
            .finish_non_exhaustive()
    }
}

/// `POST /gov/v1/applications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRequest {
    /// Generated by the gateway once per application and kept across every retry: the platform
    /// deduplicates on it.
    pub client_request_id: String,
    pub item_code: String,
    pub handle_item_code: String,
    pub applicant: Applicant,
    pub agent: Option<Agent>,
    /// `"3"`: the WeChat mini-program.
    pub channel: String,
    /// Item-specific fields.
    pub form: serde_json::Value,
    pub materials: Vec<MaterialUpload>,
    /// `0` collect in person, `1` by post.
    pub obtain_way: u8,
    pub post_address: Option<PostAddress>,
    pub submitted_at: DateTime<Utc>,
}

/// What the platform answers to an application.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitReceipt {
    /// 申办流水号.
    pub sblsh: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
    /// The platform had this `clientRequestId` already (200 rather than 201): an earlier attempt
    /// got through and this is its receipt.
    pub replayed: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReceiptBody {
    pub sblsh: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
}

/// The phases a case goes through, as the callbacks name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// 预受理.
    PreAccepted,
    /// 受理.
    Accepted,
    /// 不予受理; detail carries `reason`.
    Rejected,
    /// 审查; detail carries `step`.
    InReview,
    /// 补正告知; detail carries `reason` and `materials`.
    SupplementRequired,
    /// 已补正.
    Supplemented,
    /// 特别程序; detail carries `kind` and `until`.
    SpecialProcedure,
    /// 办结; detail carries `result` and `licenceIds`.
    Concluded,
    /// 领取/送达; detail carries `way` and maybe `trackingNo`.
    Delivered,
}

/// One event of a case, from a callback or from [`CaseState::events`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseEvent {
    pub event_id: String,
    pub sblsh: String,
    /// +1 per event of this case: the order to apply events in, whatever order they arrive in.
    pub version: u64,
    pub phase: Phase,
    pub at: DateTime<Utc>,
    pub handler: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// `GET /gov/v1/applications/{sblsh}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseState {
    pub sblsh: String,
    pub item_code: String,
    pub status: String,
    pub version: u64,
    #[serde(default)]
    pub events: Vec<CaseEvent>,
}

/// `POST /gov/v1/applications/{sblsh}/supplements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplementRequest {
    pub client_request_id: String,
    pub materials: Vec<MaterialUpload>,
    pub note: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct VersionBody {
    pub version: u64,
}

/// 用证事由: why a licence is read. Sent as `X-Use-Cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseCause {
    /// The holder looks at their own licence: `HOLDER_DISPLAY`.
    HolderDisplay,
    /// Staff at a hall verify a licence shown to them: `VERIFY:<hall>`.
    Verify { hall: String },
}

impl UseCause {
    pub const HEADER: &'static str = "X-Use-Cause";

    pub fn header_value(&self) -> String {
        match self {
            Self::HolderDisplay => "HOLDER_DISPLAY".to_owned(),
            Self::Verify { hall } => format!("VERIFY:{hall}"),
        }
    }
}

/// A licence's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
}

/// A licence as listed for its holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceSummary {
    /// GB/T 36904 form.
    pub licence_id: String,
    pub type_code: String,
    /// 居民身份证, 机动车驾驶证, 营业执照 …
    pub type_name: String,
    pub holder_name: String,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub status: LicenceStatus,
}

/// One field of a licence. `Debug` hides the value of a sensitive one.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceField {
    pub key: String,
    pub label: String,
    pub value: String,
    /// Masked unless the holder asks to see it.
    pub sensitive: bool,
}

impl fmt::Debug for LicenceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.sensitive {
            "<sensitive>"
        } else {
            &self.value
        };
        f.debug_struct("LicenceField")
            .field("key", &self.key)
            .field("value", &value)
            .finish_non_exhaustive()
    }
}

/// A licence in full.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceDetail {
    #[serde(flatten)]
    pub summary: LicenceSummary,
    #[serde(default)]
    pub fields: Vec<LicenceField>,
    /// Base64 PNG.
    #[serde(default)]
    pub face_image: Option<String>,
}

impl fmt::Debug for LicenceDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenceDetail")
            .field("summary", &self.summary)
            .field("fields", &self.fields)
            .field("face_image", &self.face_image.as_ref().map(|_| "<png>"))
            .finish()
    }
}

#[derive(Deserialize)]
pub(super) struct LicencesBody {
    pub licences: Vec<LicenceSummary>,
}

/// `GET /gov/v1/licences/{id}/status`: what a verifier must see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenceStatusReply {
    pub status: LicenceStatus,
    pub checked_at: DateTime<Utc>,
}

/// `POST /gov/v1/evaluations` (好差评).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationRequest {
    pub client_request_id: String,
    pub sblsh: Option<String>,
    pub hall_code: Option<String>,
    pub window_no: Option<String>,
    /// `"3"`: the WeChat mini-program.
    pub channel: String,
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub grade: u8,
    #[serde(default)]
    pub indicators: serde_json::Value,
    #[serde(default)]
    pub tags: Vec<String>,
    pub comment: String,
    pub evaluated_at: DateTime<Utc>,
}

/// The platform's error body.
#[derive(Deserialize, Default)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

#[derive(Deserialize)]
pub(super) struct FieldError {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub reason: String,
}

/// The first 4 and last 2 characters of an identifier, for `Debug`.
fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_type_reads_number_and_text_and_writes_the_number() {
        for raw in ["1", "\"1\""] {
            let t: ItemType = serde_json::from_str(raw).unwrap();
            assert_eq!(t, ItemType::Instant);
        }
        let t: ItemType = serde_json::from_str("\"2\"").unwrap();
        assert_eq!(t, ItemType::Promised);
        assert!(serde_json::from_str::<ItemType>("3").is_err());
        assert_eq!(serde_json::to_string(&ItemType::Promised).unwrap(), "2");
    }

    #[test]
    fn a_catalogue_item_round_trips_through_json_in_camel_case() {
        let item = CatalogueItem {
            item_code: "1133010000248975XA3000125003000".into(),
            handle_item_code: "11330100002489753F300012500300001".into(),
            name: "居民身份证换领".into(),
            department: "杭州市公安局".into(),
            item_type: ItemType::Instant,
            legal_days: 20,
            promised_days: 7,
            fee: "20.00".into(),
            materials: vec![MaterialSpec {
                code: "M001".into(),
                name: "户口簿".into(),
                required: true,
                formats: vec!["jpg".into()],
                max_size_kb: 4096,
                note: None,
            }],
            online_level: 3,
            bookable: true,
            halls: vec!["HALL-0571-01".into()],
            guide_url: None,
        };
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["type"], 1);
        assert_eq!(json["materials"][0]["maxSizeKb"], 4096);
        assert_eq!(json["onlineLevel"], 3);
        let back: CatalogueItem = serde_json::from_value(json).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn debug_hides_certificate_numbers_and_sensitive_values() {
        let a = Applicant {
            applicant_type: 1,
            name: "张三".into(),
            cert_type: "111".into(),
            cert_no: "330102199001011234".into(),
            phone: "13800000000".into(),
        };
        let shown = format!("{a:?}");
        assert!(!shown.contains("330102199001011234"), "{shown}");
        assert!(!shown.contains("13800000000"), "{shown}");
        let f = LicenceField {
            key: "idNo".into(),
            label: "公民身份号码".into(),
            value: "330102199001011234".into(),
            sensitive: true,
        };
        assert!(!format!("{f:?}").contains("3301021990"));
    }

    #[test]
    fn use_causes_are_written_as_the_contract_says() {
        assert_eq!(UseCause::HolderDisplay.header_value(), "HOLDER_DISPLAY");
        let v = UseCause::Verify {
            hall: "HALL-0571-01".into(),
        };
        assert_eq!(v.header_value(), "VERIFY:HALL-0571-01");
    }
}
