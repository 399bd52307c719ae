//! Family members on one phone (一部手机绑定多人): the members a citizen holds, the relations in
//! which the citizen is the member, and the `memberId` query parameter of the routes that act
//! for a member.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A family member the citizen may act for (masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyMember {
    /// The relation's id: the `memberId` of the routes that act for the member.
    pub id: i64,
    /// `张*`
    pub name: String,
    /// `520***********123X`
    pub id_card_no: String,
    pub added_at: DateTime<Utc>,
}

/// `GET /api/v1/family/members`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyMemberList {
    pub members: Vec<FamilyMember>,
    /// How many members one account may hold.
    pub max_members: u32,
}

/// Someone who may act for the citizen, as the citizen (the member) sees it (masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRelation {
    /// The relation's id, for `POST /api/v1/family/relations/{id}/revoke`.
    pub id: i64,
    /// The account holder's name, masked.
    pub holder_name: String,
    /// The account holder's phone, masked, if bound.
    pub holder_phone: Option<String>,
    pub since: DateTime<Utc>,
}

/// `GET /api/v1/family/relations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRelationList {
    pub relations: Vec<FamilyRelation>,
}

/// Acting for a family member: on booking, ticket, application and licence routes.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ForMember {
    /// A live family member's id (`GET /api/v1/family/members`); absent: for oneself.
    pub member_id: Option<i64>,
}
