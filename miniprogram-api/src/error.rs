//! Every error the API answers has one body shape and one stable code from [`ErrorCode`].
//! Codes are part of the contract: the mini-program switches on them, so a code is never renamed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `SLOT_FULL`.
    pub code: ErrorCode,
    /// A message for the citizen, in Chinese.
    pub message: String,
    /// The id of the request, also in the `X-Request-Id` header; quote it when asking for help.
    pub request_id: String,
    /// Which fields were wrong, when the error is about the request's content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// When the condition ends: a ban's last day (`2027-02-21`), or a moment such as when a
    /// day's slots are released, written like every time of the API: RFC 3339 in UTC with `Z`
    /// (`2026-11-16T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// One field of a request that could not be accepted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $message:literal; )*) => {
        /// The stable error codes of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        /// A code compares with its wire text, so a test reads `assert_eq!(err.code, "SLOT_FULL")`.
        impl PartialEq<&str> for ErrorCode {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for ErrorCode {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl ErrorCode {
            /// Every code, for documentation and for tests that check each has a message.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// Codes no request gets any longer. They stay in the enum (a code is never removed:
            /// a client's `switch` on it still compiles) and the schema marks them retired.
            pub const RETIRED: &'static [ErrorCode] = &[ErrorCode::IdentityTaken];

            /// The default message shown to the citizen.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }

        // Written by hand from the same table as the wire: utoipa's derive does not see the
        // per-variant `rename` through the macro and would list the Rust names instead.
        impl utoipa::PartialSchema for ErrorCode {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                let described: Vec<String> = ErrorCode::ALL
                    .iter()
                    .map(|c| {
                        let retired = if ErrorCode::RETIRED.contains(c) {
                            " (retired: no longer returned)"
                        } else {
                            ""
                        };
                        format!("- `{}`: {}{retired}", c.as_str(), c.message())
                    })
                    .collect();
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(format!(
                        "The stable error codes of the API, with the default message of each:\n{}",
                        described.join("\n")
                    )))
                    .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
                    .into()
            }
        }

        impl ToSchema for ErrorCode {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed("ErrorCode")
            }
        }
    };
}

error_codes! {
    /// The request is malformed in a way no other code describes.
    BadRequest => "BAD_REQUEST", "请求格式不正确";
    /// The body is not valid JSON or does not have the expected shape.
    InvalidJson => "INVALID_JSON", "请求内容格式不正确，请检查后重试";
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", "提交的内容过大";
    /// The body's content type is not the one the endpoint accepts.
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型";
    /// No such route or resource.
    NotFound => "NOT_FOUND", "请求的资源不存在";
    /// The route exists but not with this method.
    MethodNotAllowed => "METHOD_NOT_ALLOWED", "不支持该请求方式";
    /// No bearer token, or one that is malformed.
    Unauthenticated => "UNAUTHENTICATED", "请先登录";
    /// The token is unknown, revoked or expired: log in again.
    SessionExpired => "SESSION_EXPIRED", "登录已过期，请重新登录";
    /// Too many requests; retry after the `Retry-After` header's seconds.
    RateLimited => "RATE_LIMITED", "操作过于频繁，请稍后再试";
    /// Content of a field is invalid; `fields` says which.
    ValidationFailed => "VALIDATION_FAILED", "填写的信息有误，请检查后重试";
    /// The wx.login code is unknown or expired.
    WechatCodeInvalid => "WECHAT_CODE_INVALID", "登录凭证无效或已过期，请重新进入小程序";
    /// The wx.login code was used already.
    WechatCodeUsed => "WECHAT_CODE_USED", "登录凭证已使用，请重新进入小程序";
    /// WeChat refuses this user (high-risk account).
    WechatUserBlocked => "WECHAT_USER_BLOCKED", "当前微信账号存在风险，暂无法登录";
    /// The phone-number code is invalid, expired or used.
    PhoneCodeInvalid => "PHONE_CODE_INVALID", "手机号授权已失效，请重新授权";
    /// The legacy encrypted phone data could not be decrypted or is not ours.
    PhoneDataInvalid => "PHONE_DATA_INVALID", "手机号信息解析失败，请重新授权";
    /// The ID number is not a valid resident ID number.
    InvalidIdCardNo => "INVALID_ID_CARD_NO", "身份证号码不正确";
    /// The name is not a valid name.
    InvalidName => "INVALID_NAME", "姓名格式不正确";
    /// This identity is already bound to another WeChat account. Retired: since identities are
    /// proven by face, a passed verification takes the identity over instead.
    IdentityTaken => "IDENTITY_TAKEN", "该身份信息已绑定其他微信账号，如有疑问请联系客服";
    /// This account already has another identity bound.
    IdentityAlreadyBound => "IDENTITY_ALREADY_BOUND", "当前账号已完成实名认证，不能更换为其他身份";
    /// The citizen must bind a real-name identity first.
    IdentityRequired => "IDENTITY_REQUIRED", "请先完成实名认证后再预约";
    /// The bound identity was declared, never proven by face verification (bound before face
    /// verification existed): verify it first.
    IdentityNotVerified => "IDENTITY_NOT_VERIFIED", "您的实名信息尚未通过人脸核验，请先完成人脸核验";
    /// `PUT /api/v1/me/identity` no longer binds: use the face-verification flow.
    FaceVerificationRequired => "FACE_VERIFICATION_REQUIRED", "实名认证需通过人脸核验完成，请更新小程序后重试";
    /// No such face verification of this account.
    VerificationNotFound => "VERIFICATION_NOT_FOUND", "核验记录不存在，请重新发起人脸核验";
    /// The verification ended already (failed or expired): start a new one.
    VerificationFinished => "VERIFICATION_FINISHED", "本次核验已结束，请重新发起人脸核验";
    /// The verify_id's hour is over.
    VerificationExpired => "VERIFICATION_EXPIRED", "人脸核验已超时失效，请重新发起";
    /// The citizen cancelled the face verification.
    FaceVerifyCancelled => "FACE_VERIFY_CANCELLED", "您已取消人脸核验，实名认证未完成";
    /// Camera or microphone not allowed for WeChat.
    FaceCameraNotAllowed => "FACE_CAMERA_NOT_ALLOWED", "请在系统设置中允许微信使用相机和麦克风后重试";
    /// The face did not match the named person, or the face data was invalid.
    FaceNotMatched => "FACE_NOT_MATCHED", "人脸核验未通过，请确认是本人操作且姓名、身份证号填写正确";
    /// The face verification timed out.
    FaceVerifyTimeout => "FACE_VERIFY_TIMEOUT", "人脸识别超时，请在光线充足处重试";
    /// The phone cannot do face verification.
    FaceDeviceUnsupported => "FACE_DEVICE_UNSUPPORTED", "当前设备不支持人脸核验，请更换手机或到大厅办理";
    /// WeChat's face verification failed on its side (network, system).
    FaceVerifySystemError => "FACE_VERIFY_SYSTEM_ERROR", "微信人脸核验暂时异常，请稍后重试";
    /// WeChat refused the verification's result (not this user's, or not this person's).
    FaceVerifyRefused => "FACE_VERIFY_REFUSED", "核验信息不一致，请重新发起人脸核验";
    /// The account holds the configured number of family members (5 by default).
    FamilyMemberLimitReached => "FAMILY_MEMBER_LIMIT_REACHED", "家庭成员数量已达上限，请先解除不再需要的成员";
    /// The person is a family member of this account already.
    FamilyMemberAlreadyAdded => "FAMILY_MEMBER_ALREADY_ADDED", "该家庭成员已添加，无需重复添加";
    /// The person named as a family member is the citizen.
    FamilyMemberIsSelf => "FAMILY_MEMBER_IS_SELF", "不能将本人添加为家庭成员";
    /// No live family relation with this id (revoked, or not this account's).
    FamilyMemberNotFound => "FAMILY_MEMBER_NOT_FOUND", "该家庭成员不存在或已解除绑定";
    /// No such service item in the catalogue.
    ItemNotFound => "ITEM_NOT_FOUND", "该事项不存在或已下线";
    /// No such hall.
    HallNotFound => "HALL_NOT_FOUND", "该办事大厅不存在";
    /// The item cannot be booked (at this hall).
    ItemNotBookable => "ITEM_NOT_BOOKABLE", "该事项在此大厅暂不支持预约";
    /// No such slot.
    SlotNotFound => "SLOT_NOT_FOUND", "该时段不存在，请刷新后重试";
    /// The slot is of another hall, or of a category that does not handle the item.
    SlotNotForItem => "SLOT_NOT_FOR_ITEM", "该时段不能办理所选事项，请重新选择";
    /// The slot has started or passed.
    SlotPast => "SLOT_PAST", "该时段已过，请选择其他时段";
    /// The day is outside the booking window (1 to 5 working days ahead by default).
    OutsideBookingWindow => "OUTSIDE_BOOKING_WINDOW", "只能预约未来1至5个工作日内的时段";
    /// The day's slots are not released yet; `until` says when they are.
    SlotNotReleased => "SLOT_NOT_RELEASED", "该日号源尚未放出，请在放号时间后再试";
    /// The slot starts within the hall's cancellation cut-off: a booking made now could not be
    /// cancelled, so it is not taken; `until` is the cut-off that has passed.
    SlotTooSoon => "SLOT_TOO_SOON", "该时段即将开始，已过取消截止时间，不能再预约，请选择更晚的时段";
    /// The hall does not open that day (or cancelled it).
    HallClosed => "HALL_CLOSED", "大厅当日不对外办公，请选择其他日期";
    /// No seat left in the slot.
    SlotFull => "SLOT_FULL", "该时段已约满，请选择其他时段";
    /// A live booking of the same person, item and day exists.
    AlreadyBooked => "ALREADY_BOOKED", "您当天已预约该事项，请勿重复预约";
    /// The weekly or monthly number of bookings is reached.
    BookingLimitReached => "BOOKING_LIMIT_REACHED", "预约次数已达上限，请下周或下月再约";
    /// Banned after no-shows or cancellations; `until` is the ban's last day.
    BookingBanned => "BOOKING_BANNED", "因多次爽约或取消预约，您暂时不能预约";
    /// The `Idempotency-Key` was used for another request.
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED", "请求标识已用于其他请求，请重新提交";
    /// No such booking of this citizen.
    BookingNotFound => "BOOKING_NOT_FOUND", "预约记录不存在";
    /// The booking is no longer live, or its cut-off has passed.
    BookingNotChangeable => "BOOKING_NOT_CHANGEABLE", "该预约已不能修改";
    /// Too late to cancel (2 hours before the slot by default).
    CancelTooLate => "CANCEL_TOO_LATE", "距预约时间太近，已不能取消";
    /// Check-in is not open yet.
    CheckinTooEarly => "CHECKIN_TOO_EARLY", "还未到签到时间，请在预约时段开始前15分钟内签到";
    /// The check-in window has closed.
    CheckinTooLate => "CHECKIN_TOO_LATE", "已超过签到时间，本次预约将记为爽约";
    /// The booking is for another hall.
    WrongHall => "WRONG_HALL", "该预约不是本大厅的预约";
    /// The scanned hall QR code is not a valid one.
    HallQrInvalid => "HALL_QR_INVALID", "签到码无效，请扫描大厅内张贴的签到二维码";
    /// Another hall has this code.
    HallCodeTaken => "HALL_CODE_TAKEN", "该大厅编码已被使用";
    /// No such category at this hall.
    CategoryNotFound => "CATEGORY_NOT_FOUND", "该业务类别不存在";
    /// Another category of the hall has this code.
    CategoryCodeTaken => "CATEGORY_CODE_TAKEN", "该业务类别编码已被本大厅使用";
    /// Another category of the hall has this queue prefix.
    QueuePrefixTaken => "QUEUE_PREFIX_TAKEN", "该排队号前缀已被本大厅其他业务类别使用";
    /// No such counter at this hall.
    CounterNotFound => "COUNTER_NOT_FOUND", "该窗口不存在";
    /// Another counter of the hall has this number.
    CounterNumberTaken => "COUNTER_NUMBER_TAKEN", "该窗口号已被本大厅使用";
    /// The working-day calendar text does not parse, or is for another year; the message
    /// names the line.
    CalendarInvalid => "CALENDAR_INVALID", "工作日历数据有误，请检查后重新提交";
    /// A catalogue sync is running already.
    SyncInProgress => "SYNC_IN_PROGRESS", "事项目录正在同步，请稍后再试";
    /// Staff login: unknown username or wrong password (deliberately the same).
    StaffLoginFailed => "STAFF_LOGIN_FAILED", "用户名或密码错误";
    /// Staff login: the account is deactivated.
    StaffDisabled => "STAFF_DISABLED", "该工作人员账号已停用，请联系管理员";
    /// Authenticated, but the role or hall does not allow this.
    Forbidden => "FORBIDDEN", "无权执行此操作";
    /// Another staff member has this username.
    UsernameTaken => "USERNAME_TAKEN", "该用户名已被使用";
    /// The password is too short or too long (10 to 128 characters).
    WeakPassword => "WEAK_PASSWORD", "密码长度应为 10 至 128 个字符";
    /// Changing one's own password: the current password given is not right.
    StaffPasswordWrong => "STAFF_PASSWORD_WRONG", "当前密码不正确";
    /// No such licence among the citizen's own (or no such field of it).
    LicenceNotFound => "LICENCE_NOT_FOUND", "该证照不存在";
    /// The licence's holder (as the licence library names them) is not the presenting citizen.
    LicenceHolderMismatch => "LICENCE_HOLDER_MISMATCH", "证照持有人与当前实名用户不一致，不能亮证";
    /// A family member's licence of a type only its holder may show (an identity card, or a
    /// type not configured for members).
    LicenceHolderOnly => "LICENCE_HOLDER_ONLY", "该证照仅限持证人本人亮证或查看";
    /// No such ticket (of this citizen, or of this hall).
    TicketNotFound => "TICKET_NOT_FOUND", "该排队号不存在";
    /// The citizen holds a live ticket at this hall already.
    TicketAlreadyLive => "TICKET_ALREADY_LIVE", "您在该大厅已有排队号，请勿重复取号";
    /// Remote tickets are taken only within the hall's opening hours.
    HallNotOpen => "HALL_NOT_OPEN", "大厅当前不在办公时间，请在办公时间内取号";
    /// The hall has no category that handles the item.
    CategoryNotForItem => "CATEGORY_NOT_FOR_ITEM", "该大厅不办理此事项，请选择其他大厅";
    /// Nobody waits for the counter's categories.
    NoTicketWaiting => "NO_TICKET_WAITING", "当前没有等候的号码";
    /// The ticket was changed by someone else first, or is not in a state for this change;
    /// reload it.
    TicketStateChanged => "TICKET_STATE_CHANGED", "该号码状态已变化，请刷新后重试";
    /// A ticket is called at most three times (the first call and two recalls).
    RecallLimitReached => "RECALL_LIMIT_REACHED", "已达最多呼叫次数，请按过号处理";
    /// The counter holds a called or serving ticket; finish it first.
    CounterBusy => "COUNTER_BUSY", "本窗口当前号码尚未办结，请先处理";
    /// The counter is deactivated: an administrator activates it again before it calls.
    CounterInactive => "COUNTER_INACTIVE", "该窗口已停用，请联系管理员启用后再叫号";
    /// No active counter serves the item's category at this hall now, so no remote ticket is
    /// given (nobody could call it, and no wait can be estimated).
    NoCounterOpen => "NO_COUNTER_OPEN", "该业务暂无开放的办理窗口，请稍后再取号或到大厅咨询";
    /// A walk-in's citizen code (市民码) is unknown, expired or used: the citizen refreshes it.
    CitizenCodeInvalid => "CITIZEN_CODE_INVALID", "市民码无效或已过期，请市民在小程序中刷新后重新出示";
    /// Applying needs a bound phone number (the platform requires the applicant's phone).
    PhoneRequired => "PHONE_REQUIRED", "请先绑定手机号后再申办";
    /// The item cannot be applied for online (网办深度 below 3): go to a hall.
    ItemNotOnline => "ITEM_NOT_ONLINE", "该事项暂不支持网上申办，请预约到大厅办理";
    /// The materials do not meet the item's requirements; `fields` says which.
    MaterialsInvalid => "MATERIALS_INVALID", "申请材料不符合要求，请按提示补充或更换";
    /// No such upload of this citizen.
    MaterialNotFound => "MATERIAL_NOT_FOUND", "材料不存在，请重新上传";
    /// An upload larger than 8 MiB.
    MaterialTooLarge => "MATERIAL_TOO_LARGE", "单个材料不能超过8MB";
    /// An upload that is not a PDF, JPEG or PNG by its content.
    MaterialTypeUnsupported => "MATERIAL_TYPE_UNSUPPORTED", "仅支持PDF、JPG、PNG格式的材料";
    /// Retired free-text 代办 (`onBehalfOf`): apply for a family member (`?memberId=`) or ask the
    /// person's consent (`consentOf`).
    OnBehalfNeedsConsent => "ON_BEHALF_NEEDS_CONSENT", "为他人代办需经本人同意：请先添加为家庭成员，或填写对方姓名和身份证号发起授权请求";
    /// No such 一件事 bundle in the catalogue.
    BundleNotFound => "BUNDLE_NOT_FOUND", "该一件事不存在或已下线";
    /// The bundle cannot be applied for online (网办深度 below 3): go to a hall.
    BundleNotOnline => "BUNDLE_NOT_ONLINE", "该一件事暂不支持网上申办，请到大厅办理";
    /// A booking (or a slot query) names neither an item nor a bundle, or both.
    ItemOrBundleRequired => "ITEM_OR_BUNDLE_REQUIRED", "请选择要预约的事项或一件事（二者选一）";
    /// No category of the hall handles every required item of the bundle: not bookable there.
    BundleNotBookable => "BUNDLE_NOT_BOOKABLE", "该一件事在此大厅暂不支持预约，请选择办事指南中可预约的大厅";
    /// No such bundle application of this citizen.
    BundleApplicationNotFound => "BUNDLE_APPLICATION_NOT_FOUND", "该一件事申请不存在";
    /// No verified 掌上办 account holds this name and ID number: the person verifies first.
    ConsentPersonNotFound => "CONSENT_PERSON_NOT_FOUND", "未找到该办事人已实名认证的账号，请对方先在掌上办完成实名认证";
    /// No such consent request for this account.
    ConsentNotFound => "CONSENT_NOT_FOUND", "授权请求不存在";
    /// The request was accepted or refused already.
    ConsentAlreadyAnswered => "CONSENT_ALREADY_ANSWERED", "该授权请求已处理";
    /// The request lapsed: the application is never sent.
    ConsentExpired => "CONSENT_EXPIRED", "该授权请求已过期，申请不会提交";
    /// No such application of this citizen.
    ApplicationNotFound => "APPLICATION_NOT_FOUND", "申请记录不存在";
    /// The case does not ask for a supplement now.
    SupplementNotRequested => "SUPPLEMENT_NOT_REQUESTED", "当前无需补正材料";
    /// A supplement answering this request was submitted already.
    SupplementAlreadySubmitted => "SUPPLEMENT_ALREADY_SUBMITTED", "补正材料已提交，请勿重复提交";
    /// Nothing of the application is parked (operators).
    ApplicationNotParked => "APPLICATION_NOT_PARKED", "该申请不在待人工处理状态";
    /// No such subject (ticket, case) or evaluation of this citizen.
    EvaluationSubjectNotFound => "EVALUATION_SUBJECT_NOT_FOUND", "没有找到可评价的办事记录";
    /// The ticket is not done, or the case not concluded, yet.
    EvaluationNotOpen => "EVALUATION_NOT_OPEN", "该事项尚未办结，办结后再来评价";
    /// The rating window passed (基本满意 was or will be recorded).
    EvaluationWindowClosed => "EVALUATION_WINDOW_CLOSED", "评价期限已过，系统已默认为基本满意";
    /// Rated already: one evaluation per service or case.
    AlreadyEvaluated => "ALREADY_EVALUATED", "您已评价过该事项，每项服务只能评价一次";
    /// WeChat's content check refused the comment.
    EvaluationCommentRejected => "EVALUATION_COMMENT_REJECTED", "评价内容含有不当信息，请修改后重新提交";
    /// A 追评 comes after the rectification, once.
    FollowUpNotAllowed => "FOLLOW_UP_NOT_ALLOWED", "整改完成后可追加评价一次";
    /// No such rectification ticket.
    RectificationNotFound => "RECTIFICATION_NOT_FOUND", "整改工单不存在";
    /// The ticket is past that step (contacted or rectified already).
    RectificationStateChanged => "RECTIFICATION_STATE_CHANGED", "整改工单状态已变化，请刷新后重试";
    /// The comment is not waiting for a decision.
    CommentNotInReview => "COMMENT_NOT_IN_REVIEW", "该评价内容不在待审核状态";
    /// No such entry in the member's staff inbox.
    InboxEntryNotFound => "INBOX_ENTRY_NOT_FOUND", "提醒消息不存在";
    /// A callback's signature does not match (the platform's own code).
    BadSignature => "BAD_SIGNATURE", "签名校验失败";
    /// A callback's timestamp is more than 300 s off.
    StaleRequest => "STALE_REQUEST", "请求已过期";
    /// A callback's nonce was used in the last 600 s.
    ReplayedNonce => "REPLAYED_NONCE", "请求重复";
    /// An upstream (WeChat, the provincial platform) is busy or down.
    UpstreamUnavailable => "UPSTREAM_UNAVAILABLE", "服务繁忙，请稍后再试";
    /// The service is not ready (database or store unreachable).
    ServiceUnavailable => "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试";
    /// Something unexpected; the cause is in the server log under the request id.
    Internal => "INTERNAL", "系统繁忙，请稍后再试";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_chinese_message_and_round_trips_on_the_wire() {
        for code in ErrorCode::ALL {
            assert!(!code.message().is_empty());
            assert!(
                code.message()
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            );
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn the_schema_lists_exactly_the_codes_on_the_wire() {
        let schema = serde_json::to_value(<ErrorCode as utoipa::PartialSchema>::schema()).unwrap();
        let listed: Vec<serde_json::Value> = schema["enum"].as_array().unwrap().clone();
        let wire: Vec<serde_json::Value> = ErrorCode::ALL
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(listed, wire);
        assert_eq!(schema["type"], "string");
        assert!(listed.contains(&serde_json::json!("UNAUTHENTICATED")));
        assert!(!listed.contains(&serde_json::json!("Unauthenticated")));
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
    }
}
