//! The demo 一件事 bundle (province-api.md, "一件事 bundles"): 新生儿出生一件事, four items of
//! four departments — three required, one optional — with shared materials, and the hooks tests
//! drive bundles with.

use serde_json::{Value, json};

use super::{BundleLedgerEntry, DEMO_HALL_CODE, ProvinceSim};

/// The demo bundle's code.
pub const DEMO_BUNDLE_CODE: &str = "YJS-330100-CSYJS-0001";

const HEALTH: (&str, &str) = ("杭州市卫生健康委员会", "11330100002489847A");
const POLICE: (&str, &str) = ("杭州市公安局", "11330100002489612T");
const MEDICAL_INSURANCE: (&str, &str) = ("杭州市医疗保障局", "11330100MB1B93624K");
const HRSS: (&str, &str) = ("杭州市人力资源和社会保障局", "113301000024897265");

const IMAGES: &[&str] = &["jpg", "png", "pdf"];

/// The parents' ID cards: used by 出生医学证明 and 户口登记.
pub const PARENTS_ID: &str = "YJS01";
/// The hospital's birth record: used by 出生医学证明, 户口登记 and 医保参保 (three items).
pub const BIRTH_RECORD: &str = "YJS02";
/// The household register: 户口登记 and 社保卡申领 (the optional item).
pub const HOUSEHOLD: &str = "YJS03";
/// A recent photo of the child: 社保卡申领 (the optional item) only.
pub const PHOTO: &str = "YJS04";

fn item(
    body: (&str, &str),
    suffix: &str,
    name: &str,
    fee: &str,
    days: u32,
    materials: &[(&str, &str)],
) -> Value {
    let (department, uscc) = body;
    let item_code = format!("{uscc}{suffix}");
    let materials: Vec<Value> = materials
        .iter()
        .map(|(code, name)| {
            json!({ "code": code, "name": name, "required": true, "formats": IMAGES, "maxSizeKb": 4096, "note": null })
        })
        .collect();
    json!({
        "itemCode": item_code,
        "handleItemCode": format!("{item_code}01"),
        "name": name,
        "department": department,
        "type": 2,
        "legalDays": days * 2,
        "promisedDays": days,
        "fee": fee,
        "materials": materials,
        "onlineLevel": 4,
        "bookable": true,
        "halls": [DEMO_HALL_CODE],
        "guideUrl": format!("https://zwfw.hangzhou.gov.cn/guide/{item_code}"),
    })
}

/// The four items of the demo bundle, in the contract's shape: 出生医学证明, 出生登记 (户口),
/// 城乡居民医保参保登记 (required) and 社会保障卡申领 (optional).
pub fn demo_bundle_items() -> Vec<Value> {
    vec![
        item(
            HEALTH,
            "1200130010000",
            "出生医学证明首次签发",
            "0",
            3,
            &[
                (PARENTS_ID, "父母双方居民身份证"),
                (BIRTH_RECORD, "医院出具的分娩记录"),
            ],
        ),
        item(
            POLICE,
            "2000121050000",
            "出生登记（户口登记）",
            "0",
            5,
            &[
                (PARENTS_ID, "父母双方居民身份证"),
                (BIRTH_RECORD, "医院出具的分娩记录"),
                (HOUSEHOLD, "户口簿"),
            ],
        ),
        item(
            MEDICAL_INSURANCE,
            "1200131003000",
            "城乡居民基本医疗保险参保登记",
            "0",
            3,
            &[(BIRTH_RECORD, "医院出具的分娩记录")],
        ),
        item(
            HRSS,
            "2000129021000",
            "社会保障卡申领",
            "0",
            10,
            &[(HOUSEHOLD, "户口簿"), (PHOTO, "新生儿近期免冠照片")],
        ),
    ]
}

/// The demo bundle 新生儿出生一件事, in the contract's shape.
pub fn demo_bundle() -> Value {
    let codes: Vec<String> = demo_bundle_items()
        .iter()
        .map(|i| i["itemCode"].as_str().unwrap_or_default().to_owned())
        .collect();
    let code = |i: usize| codes.get(i).cloned().unwrap_or_default();
    json!({
        "bundleCode": DEMO_BUNDLE_CODE,
        "name": "新生儿出生一件事",
        "description": "出生医学证明、户口登记、医保参保一次申请，社保卡可一并申领",
        "items": [
            { "itemCode": code(0), "required": true },
            { "itemCode": code(1), "required": true },
            { "itemCode": code(2), "required": true },
            { "itemCode": code(3), "required": false },
        ],
        "sharedMaterials": [
            { "code": PARENTS_ID, "name": "父母双方居民身份证", "formats": IMAGES, "maxSizeKb": 4096,
              "usedBy": [code(0), code(1)] },
            { "code": BIRTH_RECORD, "name": "医院出具的分娩记录", "formats": IMAGES, "maxSizeKb": 4096,
              "usedBy": [code(0), code(1), code(2)] },
            { "code": HOUSEHOLD, "name": "户口簿", "formats": IMAGES, "maxSizeKb": 4096,
              "usedBy": [code(1), code(3)] },
        ],
        "promisedDays": 5,
        "onlineLevel": 4,
    })
}

impl ProvinceSim {
    /// Adds the demo bundle 新生儿出生一件事 and its four items to the catalogue.
    ///
    /// # Errors
    /// Never with the demo data (an item or bundle without its code would be refused).
    pub fn add_demo_bundle(&self) -> anyhow::Result<()> {
        let mut world = self.shared.world();
        for item in demo_bundle_items() {
            world.upsert_item(item)?;
        }
        world.upsert_bundle(demo_bundle())
    }

    /// Adds or replaces a bundle (contract shape, `bundleCode` required); its update time
    /// becomes now.
    ///
    /// # Errors
    /// When the bundle has no `bundleCode` text.
    pub fn upsert_bundle(&self, bundle: Value) -> anyhow::Result<()> {
        self.shared.world().upsert_bundle(bundle)
    }

    /// Every accepted bundle application, in the order accepted.
    pub fn bundle_ledger(&self) -> Vec<BundleLedgerEntry> {
        self.shared.world().bundle_ledger()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_bundle_has_four_items_of_31_characters_one_optional() {
        let bundle = demo_bundle();
        let items = bundle["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items.iter().filter(|i| i["required"] == false).count(), 1);
        for i in demo_bundle_items() {
            assert_eq!(i["itemCode"].as_str().unwrap().chars().count(), 31);
        }
        assert_eq!(
            bundle["sharedMaterials"][1]["usedBy"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
