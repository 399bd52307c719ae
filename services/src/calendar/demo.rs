//! Demo data: the 2026 and 2027 arrangements, for tests and for a first start before an administrator has
//! loaded anything.

/// The 2026 public holidays and make-up working days of mainland China in the text form
/// [`YearData::parse`](super::YearData::parse) reads, after the notice of the General Office of the
/// State Council of 4 November 2025 (国务院办公厅关于2026年部分节假日安排的通知).
///
/// Demo data: a copy made by hand, not updated if the notice is amended. Production loads the
/// official notice each year instead, and a local arrangement (a hall that opens on a Saturday)
/// is the administrator's to add.
pub const DEMO_2026: &str = "\
# 元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
2026-01-01 holiday 元旦
2026-01-02 holiday 元旦
2026-01-03 holiday 元旦
2026-01-04 workday 元旦调休
# 春节：2月15日（腊月二十八、周日）至23日（正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
2026-02-14 workday 春节调休
2026-02-15 holiday 春节
2026-02-16 holiday 春节
2026-02-17 holiday 春节
2026-02-18 holiday 春节
2026-02-19 holiday 春节
2026-02-20 holiday 春节
2026-02-21 holiday 春节
2026-02-22 holiday 春节
2026-02-23 holiday 春节
2026-02-28 workday 春节调休
# 清明节：4月4日（周六）至6日（周一）放假，共3天。
2026-04-04 holiday 清明节
2026-04-05 holiday 清明节
2026-04-06 holiday 清明节
# 劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
2026-05-01 holiday 劳动节
2026-05-02 holiday 劳动节
2026-05-03 holiday 劳动节
2026-05-04 holiday 劳动节
2026-05-05 holiday 劳动节
2026-05-09 workday 劳动节调休
# 端午节：6月19日（周五）至21日（周日）放假，共3天。
2026-06-19 holiday 端午节
2026-06-20 holiday 端午节
2026-06-21 holiday 端午节
# 中秋节：9月25日（周五）至27日（周日）放假，共3天。
2026-09-25 holiday 中秋节
2026-09-26 holiday 中秋节
2026-09-27 holiday 中秋节
# 国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
2026-09-20 workday 国庆节调休
2026-10-01 holiday 国庆节
2026-10-02 holiday 国庆节
2026-10-03 holiday 国庆节
2026-10-04 holiday 国庆节
2026-10-05 holiday 国庆节
2026-10-06 holiday 国庆节
2026-10-07 holiday 国庆节
2026-10-10 workday 国庆节调休
";

/// The demo's 2027 in the same form. **An assumption of the demo, not the State Council's
/// notice**: the references this project was built from do not include the 2027 arrangement, so
/// these lines follow the statutory days of the 2025 rules (全国年节及纪念日放假办法: 元旦 1,
/// 春节 4, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3) and the usual shape of a notice. An
/// administrator replaces them with the published notice (`PUT /staff/v1/calendar/2027`) before
/// relying on them.
pub const DEMO_2027: &str = "\
# 演示数据（假设，非国务院办公厅通知原文）：以正式公布的2027年放假安排替换。
# 元旦：1月1日（周五）至3日（周日）放假，共3天。
2027-01-01 holiday 元旦
2027-01-02 holiday 元旦
2027-01-03 holiday 元旦
# 春节：2月5日（除夕、周五）至13日（周六）放假调休，共9天。1月31日（周日）、2月20日（周六）上班。
2027-01-31 workday 春节调休
2027-02-05 holiday 春节
2027-02-06 holiday 春节
2027-02-07 holiday 春节
2027-02-08 holiday 春节
2027-02-09 holiday 春节
2027-02-10 holiday 春节
2027-02-11 holiday 春节
2027-02-12 holiday 春节
2027-02-13 holiday 春节
2027-02-20 workday 春节调休
# 清明节：4月3日（周六）至5日（周一）放假，共3天。
2027-04-03 holiday 清明节
2027-04-04 holiday 清明节
2027-04-05 holiday 清明节
# 劳动节：5月1日（周六）至5日（周三）放假调休，共5天。5月8日（周六）上班。
2027-05-01 holiday 劳动节
2027-05-02 holiday 劳动节
2027-05-03 holiday 劳动节
2027-05-04 holiday 劳动节
2027-05-05 holiday 劳动节
2027-05-08 workday 劳动节调休
# 端午节：6月9日（周三）放假，共1天。
2027-06-09 holiday 端午节
# 中秋节：9月15日（周三）放假，共1天。
2027-09-15 holiday 中秋节
# 国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
2027-09-26 workday 国庆节调休
2027-10-01 holiday 国庆节
2027-10-02 holiday 国庆节
2027-10-03 holiday 国庆节
2027-10-04 holiday 国庆节
2027-10-05 holiday 国庆节
2027-10-06 holiday 国庆节
2027-10-07 holiday 国庆节
2027-10-09 workday 国庆节调休
";
