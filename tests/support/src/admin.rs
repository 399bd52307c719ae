//! Fixtures made the way an administrator makes them: through `/staff/v1/…`, with a global
//! admin's token, each answer read as its `miniprogram-api` type.
//!
//! [`Admin`] is one call per route; [`HallSpec`] sets a whole hall up (rules, weekly hours,
//! categories, counters, items) and answers a [`SetUpHall`] that finds a category by its code and
//! a counter by its number.

use chrono::NaiveDate;
use miniprogram_api::calendar::CalendarYear;
use miniprogram_api::halls::{
    Category, CategoryRequest, CheckInQr, Counter, CounterCategory, CounterRequest,
    CreateHallRequest, DateException, Hall, MapItemRequest, OpeningHours, PutExceptionRequest,
    RulesPatch, SetHoursRequest,
};
use miniprogram_api::staff::{CreateStaffRequest, StaffMember, StaffRole, StaffRoleGrant};
use reqwest::StatusCode;

use crate::api::{Api, Reply};

/// The password every fixture's staff member has.
pub const PASSWORD: &str = "a long enough password";

/// A global administrator, speaking to one gateway.
#[derive(Debug, Clone)]
pub struct Admin {
    pub api: Api,
    pub token: String,
}

impl Admin {
    pub fn new(api: Api, token: impl Into<String>) -> Admin {
        Admin {
            api,
            token: token.into(),
        }
    }

    fn token(&self) -> Option<&str> {
        Some(&self.token)
    }

    /// `POST /staff/v1/halls`.
    pub async fn create_hall_reply(&self, request: &CreateHallRequest) -> Reply {
        self.api
            .post("/staff/v1/halls", self.token(), request)
            .await
    }

    /// `POST /staff/v1/halls`, asserting 201.
    pub async fn create_hall(&self, request: &CreateHallRequest) -> Hall {
        self.create_hall_reply(request).await.created()
    }

    /// `GET /staff/v1/halls/{id}`.
    pub async fn hall(&self, hall_id: i64) -> Hall {
        self.api
            .get(&format!("/staff/v1/halls/{hall_id}"), self.token())
            .await
            .ok()
    }

    /// The id of the hall with `code` (`GET /staff/v1/halls`).
    pub async fn hall_id(&self, code: &str) -> i64 {
        let list: miniprogram_api::halls::HallList =
            self.api.get("/staff/v1/halls", self.token()).await.ok();
        list.halls
            .iter()
            .find(|h| h.code == code)
            .unwrap_or_else(|| panic!("no hall {code} in {list:?}"))
            .id
    }

    /// `PUT /staff/v1/halls/{id}/hours`.
    pub async fn set_hours(&self, hall_id: i64, days: Vec<OpeningHours>) {
        let _: SetHoursRequest = self
            .api
            .put(
                &format!("/staff/v1/halls/{hall_id}/hours"),
                self.token(),
                &SetHoursRequest { days },
            )
            .await
            .ok();
    }

    /// `PUT /staff/v1/halls/{id}/exceptions/{date}`.
    pub async fn put_exception(
        &self,
        hall_id: i64,
        date: NaiveDate,
        exception: &PutExceptionRequest,
    ) -> DateException {
        self.api
            .put(
                &format!("/staff/v1/halls/{hall_id}/exceptions/{date}"),
                self.token(),
                exception,
            )
            .await
            .ok()
    }

    /// `POST /staff/v1/halls/{id}/categories`.
    pub async fn add_category(&self, hall_id: i64, request: &CategoryRequest) -> Category {
        self.api
            .post(
                &format!("/staff/v1/halls/{hall_id}/categories"),
                self.token(),
                request,
            )
            .await
            .created()
    }

    /// `POST /staff/v1/halls/{id}/counters`.
    pub async fn add_counter(&self, hall_id: i64, request: &CounterRequest) -> Counter {
        self.api
            .post(
                &format!("/staff/v1/halls/{hall_id}/counters"),
                self.token(),
                request,
            )
            .await
            .created()
    }

    /// `PUT /staff/v1/halls/{id}/items/{itemCode}`: the item is handled in `category_id`.
    pub async fn map_item(&self, hall_id: i64, item_code: &str, category_id: i64) {
        let _: MapItemRequest = self
            .api
            .put(
                &format!("/staff/v1/halls/{hall_id}/items/{item_code}"),
                self.token(),
                &MapItemRequest { category_id },
            )
            .await
            .ok();
    }

    /// `GET /staff/v1/halls/{id}/check-in-qr`: the text of the QR code on the hall's wall.
    pub async fn check_in_qr(&self, hall_id: i64) -> String {
        let qr: CheckInQr = self
            .api
            .get(
                &format!("/staff/v1/halls/{hall_id}/check-in-qr"),
                self.token(),
            )
            .await
            .ok();
        qr.payload
    }

    /// `PUT /staff/v1/calendar/{year}` with the year's text.
    pub async fn load_calendar(&self, year: i32, text: &str) -> CalendarYear {
        self.api
            .send(
                self.api
                    .http
                    .put(self.api.url(&format!("/staff/v1/calendar/{year}")))
                    .bearer_auth(&self.token)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(text.to_owned()),
            )
            .await
            .ok()
    }

    /// `POST /staff/v1/staff`: a member with [`PASSWORD`].
    pub async fn create_staff(
        &self,
        username: &str,
        display_name: &str,
        roles: &[(StaffRole, Option<i64>)],
    ) -> StaffMember {
        self.api
            .post(
                "/staff/v1/staff",
                self.token(),
                &CreateStaffRequest {
                    username: username.to_owned(),
                    password: PASSWORD.to_owned(),
                    display_name: display_name.to_owned(),
                    roles: roles
                        .iter()
                        .map(|&(role, hall_id)| StaffRoleGrant { role, hall_id })
                        .collect(),
                },
            )
            .await
            .expect(StatusCode::CREATED)
    }

    /// A staff member created with `roles` and logged in: their token.
    pub async fn staff_token(
        &self,
        username: &str,
        display_name: &str,
        roles: &[(StaffRole, Option<i64>)],
    ) -> String {
        self.create_staff(username, display_name, roles).await;
        self.api.staff_login(username, PASSWORD).await.token
    }
}

/// Opening hours of one weekday (1 = Monday … 7 = Sunday), `HH:MM` wall time in Shanghai.
pub fn hours(weekday: i64, opens: &str, closes: &str, pause: Option<(&str, &str)>) -> OpeningHours {
    OpeningHours {
        weekday,
        opens: opens.to_owned(),
        closes: closes.to_owned(),
        break_start: pause.map(|(s, _)| s.to_owned()),
        break_end: pause.map(|(_, e)| e.to_owned()),
    }
}

/// A whole hall as an administrator sets it up.
#[derive(Debug, Clone)]
pub struct HallSpec {
    pub code: String,
    pub name: String,
    pub address: String,
    /// Rules other than the defaults of domain-rules.md.
    pub rules: RulesPatch,
    pub hours: Vec<OpeningHours>,
    /// `(code, name, seats per slot)`; the ticket prefix is the code.
    pub categories: Vec<(String, String, Option<i64>)>,
    /// `(number, codes of the categories it serves with their weight)`.
    pub counters: Vec<(i64, Vec<(String, i64)>)>,
    /// `(item code, code of the category handling it)`: the items must be in the catalogue.
    pub items: Vec<(String, String)>,
}

impl HallSpec {
    pub fn new(code: &str, name: &str, address: &str) -> HallSpec {
        HallSpec {
            code: code.to_owned(),
            name: name.to_owned(),
            address: address.to_owned(),
            rules: RulesPatch::default(),
            hours: Vec::new(),
            categories: Vec::new(),
            counters: Vec::new(),
            items: Vec::new(),
        }
    }

    pub fn rules(mut self, rules: RulesPatch) -> Self {
        self.rules = rules;
        self
    }

    /// The same hours on each of `weekdays`.
    pub fn open(
        mut self,
        weekdays: impl IntoIterator<Item = i64>,
        opens: &str,
        closes: &str,
        pause: Option<(&str, &str)>,
    ) -> Self {
        self.hours
            .extend(weekdays.into_iter().map(|d| hours(d, opens, closes, pause)));
        self
    }

    pub fn category(mut self, code: &str, name: &str, seats: Option<i64>) -> Self {
        self.categories
            .push((code.to_owned(), name.to_owned(), seats));
        self
    }

    /// A counter serving `categories` (by code), each with weight 1.
    pub fn counter(self, number: i64, categories: &[&str]) -> Self {
        let weighted: Vec<(&str, i64)> = categories.iter().map(|c| (*c, 1)).collect();
        self.weighted_counter(number, &weighted)
    }

    pub fn weighted_counter(mut self, number: i64, categories: &[(&str, i64)]) -> Self {
        self.counters.push((
            number,
            categories
                .iter()
                .map(|(c, w)| ((*c).to_owned(), *w))
                .collect(),
        ));
        self
    }

    pub fn item(mut self, item_code: &str, category: &str) -> Self {
        self.items.push((item_code.to_owned(), category.to_owned()));
        self
    }

    /// Creates the hall and everything in it, one route at a time.
    pub async fn create(self, admin: &Admin) -> SetUpHall {
        let hall = admin
            .create_hall(&CreateHallRequest {
                code: self.code.clone(),
                name: self.name.clone(),
                address: self.address.clone(),
                rules: self.rules.clone(),
            })
            .await;
        if !self.hours.is_empty() {
            admin.set_hours(hall.id, self.hours.clone()).await;
        }
        let mut categories = Vec::new();
        for (code, name, seats) in &self.categories {
            let category = admin
                .add_category(
                    hall.id,
                    &CategoryRequest {
                        code: code.clone(),
                        name: name.clone(),
                        prefix: code.clone(),
                        seats_per_slot: *seats,
                    },
                )
                .await;
            categories.push(category);
        }
        let category_id = |code: &str| {
            categories
                .iter()
                .find(|c| c.code == code)
                .unwrap_or_else(|| panic!("no category {code} in the spec of {}", self.code))
                .id
        };
        let mut counters = Vec::new();
        for (number, served) in &self.counters {
            let counter = admin
                .add_counter(
                    hall.id,
                    &CounterRequest {
                        number: *number,
                        name: format!("{number}号窗口"),
                        active: true,
                        categories: served
                            .iter()
                            .map(|(code, weight)| CounterCategory {
                                category_id: category_id(code),
                                weight: *weight,
                            })
                            .collect(),
                        spoken_name: None,
                    },
                )
                .await;
            counters.push(counter);
        }
        for (item_code, category) in &self.items {
            admin
                .map_item(hall.id, item_code, category_id(category))
                .await;
        }
        let qr = admin.check_in_qr(hall.id).await;
        SetUpHall {
            id: hall.id,
            code: hall.code,
            categories,
            counters,
            qr,
        }
    }
}

/// A hall as [`HallSpec::create`] left it.
#[derive(Debug, Clone)]
pub struct SetUpHall {
    pub id: i64,
    pub code: String,
    pub categories: Vec<Category>,
    pub counters: Vec<Counter>,
    /// The check-in QR text on the hall's wall (`ZSBHALL:<code>:<secret>`).
    pub qr: String,
}

impl SetUpHall {
    /// The id of the category with `code`.
    pub fn category(&self, code: &str) -> i64 {
        self.categories
            .iter()
            .find(|c| c.code == code)
            .unwrap_or_else(|| panic!("no category {code} at {}", self.code))
            .id
    }

    /// The id of the counter numbered `number`.
    pub fn counter(&self, number: i32) -> i64 {
        self.counters
            .iter()
            .find(|c| c.number == number)
            .unwrap_or_else(|| panic!("no counter {number} at {}", self.code))
            .id
    }

    /// The secret part of the check-in QR text.
    pub fn secret(&self) -> &str {
        self.qr.rsplit(':').next().unwrap_or_default()
    }
}
