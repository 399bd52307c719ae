//! The demo catalogue: eight items of a city hall (杭州市民中心), in the contract's shape.
//!
//! Item codes are fabricated but of the real form: the implementing body's 18-character unified
//! social credit code followed by 13 characters. Every demo item can be handled at
//! [`DEMO_HALL_CODE`].

use serde_json::{Value, json};

/// The hall every demo item names.
pub const DEMO_HALL_CODE: &str = "HALL-0571-01";

const POLICE: (&str, &str) = ("杭州市公安局", "11330100002489612T");
const TRAFFIC_POLICE: (&str, &str) = ("杭州市公安局交通管理局", "11330100002489663E");
const LAND: (&str, &str) = ("杭州市规划和自然资源局", "11330100MB1C39588D");
const MARKET: (&str, &str) = ("杭州市市场监督管理局", "11330100MB0F2773XW");
const HRSS: (&str, &str) = ("杭州市人力资源和社会保障局", "113301000024897265");
const HEALTH: (&str, &str) = ("杭州市卫生健康委员会", "11330100002489847A");

/// A material of an item: `(code, name, required, formats, max KiB, note)`.
type Material<'a> = (&'a str, &'a str, bool, &'a [&'a str], u32, Option<&'a str>);

#[allow(clippy::too_many_arguments, reason = "a table row")]
fn item(
    body: (&str, &str),
    suffix: &str,
    name: &str,
    item_type: u8,
    (legal_days, promised_days): (u32, u32),
    fee: &str,
    online_level: u8,
    bookable: bool,
    materials: &[Material<'_>],
) -> Value {
    let (department, uscc) = body;
    let item_code = format!("{uscc}{suffix}");
    let materials: Vec<Value> = materials
        .iter()
        .map(|(code, name, required, formats, max_size_kb, note)| {
            json!({
                "code": code, "name": name, "required": required, "formats": formats,
                "maxSizeKb": max_size_kb, "note": note,
            })
        })
        .collect();
    json!({
        "itemCode": item_code,
        "handleItemCode": format!("{item_code}01"),
        "name": name,
        "department": department,
        "type": item_type,
        "legalDays": legal_days,
        "promisedDays": promised_days,
        "fee": fee,
        "materials": materials,
        "onlineLevel": online_level,
        "bookable": bookable,
        "halls": [DEMO_HALL_CODE],
        "guideUrl": format!("https://zwfw.hangzhou.gov.cn/guide/{item_code}"),
    })
}

const IMAGES: &[&str] = &["jpg", "png", "pdf"];
const PDF: &[&str] = &["pdf"];

/// The demo catalogue, in the contract's shape (`itemCode`, `handleItemCode`, … `guideUrl`).
pub fn demo_items() -> Vec<Value> {
    vec![
        item(
            POLICE,
            "2000121001000",
            "居民身份证换领",
            2,
            (60, 15),
            "0",
            3,
            true,
            &[
                ("M001", "居民户口簿", true, IMAGES, 4096, None),
                (
                    "M002",
                    "原居民身份证",
                    true,
                    IMAGES,
                    4096,
                    Some("有效期满前三个月内可换领"),
                ),
                (
                    "M003",
                    "近期免冠证件照",
                    false,
                    &["jpg"],
                    1024,
                    Some("可现场采集"),
                ),
            ],
        ),
        item(
            LAND,
            "3000117005000",
            "不动产登记资料查询",
            1,
            (1, 1),
            "0",
            4,
            true,
            &[
                ("M001", "查询申请书", true, PDF, 2048, None),
                ("M002", "申请人身份证明", true, IMAGES, 4096, None),
            ],
        ),
        item(
            MARKET,
            "2000119003000",
            "个体工商户设立登记",
            1,
            (15, 1),
            "0",
            4,
            true,
            &[
                (
                    "M001",
                    "个体工商户登记（备案）申请书",
                    true,
                    PDF,
                    4096,
                    None,
                ),
                ("M002", "经营者身份证明", true, IMAGES, 4096, None),
                (
                    "M003",
                    "经营场所使用证明",
                    false,
                    IMAGES,
                    8192,
                    Some("住所(经营场所)登记承诺制可免交"),
                ),
            ],
        ),
        item(
            HRSS,
            "1200129012000",
            "城乡居民基本养老保险参保登记",
            1,
            (5, 1),
            "0",
            4,
            true,
            &[("M001", "居民身份证", true, IMAGES, 4096, None)],
        ),
        item(
            HEALTH,
            "1200130001000",
            "生育登记",
            1,
            (1, 1),
            "0",
            4,
            false,
            &[
                ("M001", "夫妻双方居民身份证", true, IMAGES, 4096, None),
                (
                    "M002",
                    "结婚证",
                    false,
                    IMAGES,
                    4096,
                    Some("未婚生育可免交"),
                ),
            ],
        ),
        item(
            TRAFFIC_POLICE,
            "2000121047000",
            "机动车驾驶证换证",
            1,
            (1, 1),
            "15.00",
            3,
            true,
            &[
                (
                    "M001",
                    "机动车驾驶人身体条件证明",
                    true,
                    IMAGES,
                    4096,
                    Some("医疗机构出具，6个月内有效"),
                ),
                ("M002", "居民身份证", true, IMAGES, 4096, None),
                ("M003", "近期免冠证件照", true, &["jpg"], 1024, None),
            ],
        ),
        item(
            HRSS,
            "2000129020000",
            "社会保障卡补领",
            2,
            (10, 5),
            "15.00",
            3,
            true,
            &[
                ("M001", "居民身份证", true, IMAGES, 4096, None),
                ("M002", "近期免冠证件照", true, &["jpg"], 1024, None),
            ],
        ),
        item(
            MARKET,
            "2000119007000",
            "营业执照变更登记",
            2,
            (15, 3),
            "0",
            4,
            true,
            &[
                ("M001", "变更登记申请书", true, PDF, 4096, None),
                ("M002", "营业执照正副本", true, IMAGES, 8192, None),
                ("M003", "变更事项相关证明文件", true, PDF, 8192, None),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn demo_item_codes_are_31_characters_unique_and_start_with_a_uscc() {
        let items = demo_items();
        assert_eq!(items.len(), 8);
        let mut codes = HashSet::new();
        for item in &items {
            let code = item["itemCode"].as_str().unwrap();
            assert_eq!(code.chars().count(), 31, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
            assert!(codes.insert(code.to_owned()), "{code} twice");
            assert!(item["handleItemCode"].as_str().unwrap().len() <= 50);
            assert_eq!(item["halls"][0], DEMO_HALL_CODE);
            assert!(
                item["materials"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["required"] == true)
            );
        }
    }
}
