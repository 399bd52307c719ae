//! A hook for 一件事 bundles (`crate::bundles`): the parts of a bundle are applications the
//! bundle forwarder opens with their `sblsh` already known; their events that arrived first are
//! projected here, as the application forwarder does for its own answers.

use anyhow::Context as _;

use super::{ApplicationService, events};

impl ApplicationService {
    /// Projects the stored events of the cases `sblshs` onto their applications (opened by the
    /// caller and committed), telling the citizen what matters, twice over as the application
    /// forwarder does: an event committed while the applications were being opened saw none.
    ///
    /// # Errors
    /// The database failed.
    pub async fn project_cases(&self, sblshs: &[String]) -> anyhow::Result<()> {
        for _ in 0..2 {
            let txn = crate::db::write(&self.inner.db)
                .await
                .context("begin projecting the parts")?;
            for sblsh in sblshs {
                events::project(self, &txn, sblsh, None).await?;
            }
            txn.commit().await.context("commit projecting the parts")?;
        }
        Ok(())
    }
}
