//! 一件事 bundles on the wire (province-api.md, "一件事 bundles"): `GET /gov/v1/bundles` and
//! `POST /gov/v1/bundle-applications`.

use anyhow::anyhow;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{ProvinceClient, check_sblsh, parse, to_json};
use crate::province::error::ProvinceError;
use crate::province::wire::{Agent, Applicant, MaterialUpload, PostAddress};

/// An item of a bundle: an optional one the citizen may leave out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleItem {
    pub item_code: String,
    pub required: bool,
}

/// A material uploaded once for every item in `used_by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedMaterial {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub formats: Vec<String>,
    #[serde(default)]
    pub max_size_kb: u32,
    #[serde(default)]
    pub used_by: Vec<String>,
}

/// A bundle (一件事) as the platform publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueBundle {
    /// Up to 50 characters.
    pub bundle_code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub items: Vec<BundleItem>,
    #[serde(default)]
    pub shared_materials: Vec<SharedMaterial>,
    /// The bundle's own promise, in working days.
    pub promised_days: u32,
    pub online_level: u8,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// One page of bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlesPage {
    pub bundles: Vec<CatalogueBundle>,
    pub next_page: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundlesBody {
    bundles: Vec<CatalogueBundle>,
    #[serde(default)]
    next_page: Option<u32>,
}

/// `POST /gov/v1/bundle-applications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleApplicationRequest {
    /// Generated once per bundle application and kept across every retry.
    pub client_request_id: String,
    pub bundle_code: String,
    /// The required items and the optional ones chosen.
    pub items: Vec<String>,
    pub applicant: Applicant,
    pub agent: Option<Agent>,
    pub channel: String,
    /// One form for the bundle.
    pub form: serde_json::Value,
    /// Each material once.
    pub materials: Vec<MaterialUpload>,
    pub obtain_way: u8,
    pub post_address: Option<PostAddress>,
    pub submitted_at: DateTime<Utc>,
}

/// The case the platform opened for one item of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleCase {
    pub item_code: String,
    pub sblsh: String,
}

/// What the platform answers to a bundle application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReceipt {
    pub bundle_no: String,
    pub received_at: DateTime<Utc>,
    pub cases: Vec<BundleCase>,
    /// 200 rather than 201: an earlier attempt got through and this is its answer.
    pub replayed: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleReceiptBody {
    bundle_no: String,
    received_at: DateTime<Utc>,
    cases: Vec<BundleCase>,
}

impl ProvinceClient {
    /// One page of the bundles changed at or after `updated_since` (all when `None`).
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] 400 for a bad page; [`ProvinceError::Invalid`] for a bundle
    /// without a code, a name or items, or a code over 50 characters; `Unavailable`,
    /// `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(page = page, page_size = page_size))]
    pub async fn list_bundles(
        &self,
        updated_since: Option<DateTime<Utc>>,
        page: u32,
        page_size: u32,
    ) -> Result<BundlesPage, ProvinceError> {
        let mut url = self.url(&["gov", "v1", "bundles"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = updated_since {
                query.append_pair(
                    "updatedSince",
                    &since.to_rfc3339_opts(SecondsFormat::Micros, true),
                );
            }
            query
                .append_pair("page", &page.to_string())
                .append_pair("pageSize", &page_size.to_string());
        }
        let answer = self.call("bundles", Method::GET, url, None, None).await?;
        let body: BundlesBody = parse(&answer)?;
        for (i, bundle) in body.bundles.iter().enumerate() {
            let length = bundle.bundle_code.chars().count();
            if !(1..=50).contains(&length)
                || bundle.name.trim().is_empty()
                || bundle.items.is_empty()
            {
                return Err(ProvinceError::Invalid(anyhow!(
                    "bundle {i} of page {page} has no code, a code over 50 characters, no name or no items"
                )));
            }
        }
        if body.next_page.is_some_and(|next| next <= page) {
            return Err(ProvinceError::Invalid(anyhow!(
                "page {page} names {:?} as the next page",
                body.next_page
            )));
        }
        Ok(BundlesPage {
            bundles: body.bundles,
            next_page: body.next_page,
        })
    }

    /// Submits a bundle application. Safe to call again with the same `clientRequestId`: the
    /// platform answers a repeat with the first answer (`replayed`).
    ///
    /// # Errors
    /// [`ProvinceError::Rejected`] 422 naming the item and field, 409 `IDEMPOTENCY_MISMATCH`,
    /// 413; [`ProvinceError::Invalid`] when the cases are not one per item asked for, each with an
    /// sblsh of its item's form; `Unavailable`, `CircuitOpen`.
    #[tracing::instrument(skip_all, fields(client_request_id = %body.client_request_id, bundle_code = %body.bundle_code))]
    pub async fn submit_bundle(
        &self,
        body: &BundleApplicationRequest,
    ) -> Result<BundleReceipt, ProvinceError> {
        let url = self.url(&["gov", "v1", "bundle-applications"]);
        let bytes = to_json(body)?;
        let answer = self
            .call("bundle_applications", Method::POST, url, Some(bytes), None)
            .await?;
        let receipt: BundleReceiptBody = parse(&answer)?;
        if receipt.bundle_no.trim().is_empty() || receipt.bundle_no.chars().count() > 64 {
            return Err(ProvinceError::Invalid(anyhow!(
                "the bundle number is empty or over 64 characters"
            )));
        }
        let mut asked: Vec<&str> = body.items.iter().map(String::as_str).collect();
        let mut got: Vec<&str> = receipt.cases.iter().map(|c| c.item_code.as_str()).collect();
        asked.sort_unstable();
        got.sort_unstable();
        if asked != got {
            return Err(ProvinceError::Invalid(anyhow!(
                "the bundle's cases are not one per item asked for"
            )));
        }
        for case in &receipt.cases {
            check_sblsh(&case.sblsh, &case.item_code)?;
        }
        Ok(BundleReceipt {
            bundle_no: receipt.bundle_no,
            received_at: receipt.received_at,
            cases: receipt.cases,
            replayed: answer.status == StatusCode::OK,
        })
    }
}
