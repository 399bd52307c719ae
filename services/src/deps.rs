//! What the services are built from. One value, handed to each constructor, instead of the same
//! six parts passed positionally to every one of them (where two `Arc`s or two clients of the
//! same type could be swapped without the compiler noticing). A service takes from it what it
//! needs, plus its own configuration.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::calendar::CalendarStore;
use crate::crypto::{BlindIndex, FieldCipher};
use crate::notify::Notifications;
use crate::province::ProvinceClient;
use crate::store::Store;
use crate::time::Clock;
use crate::wechat::WechatClient;

/// The parts every service of one gateway instance shares; cheap to clone.
#[derive(Clone)]
pub struct Deps {
    pub db: DatabaseConnection,
    /// The hot state, shared by every instance of a deployment.
    pub store: Arc<dyn Store>,
    /// The domain's one clock: every "now" is read from it.
    pub clock: Clock,
    /// Encrypts personal fields at rest.
    pub cipher: Arc<FieldCipher>,
    /// Finds a row by an encrypted field's value.
    pub index: Arc<BlindIndex>,
    pub wechat: WechatClient,
    pub province: ProvinceClient,
    /// The working-day calendar; one cache for every capability of the instance.
    pub calendar: CalendarStore,
    pub notifications: Notifications,
}
