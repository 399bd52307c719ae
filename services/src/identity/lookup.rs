//! Finding another citizen's verified account by their name and ID number: the person an
//! application for someone not on the citizen's phone (代办) asks for consent. Only an account
//! whose identity was proven by face verification, and whose name matches too, is found; the
//! answer is the same "not found" for a wrong name as for no account, so the lookup tells
//! nothing about who has an account.

use anyhow::Context as _;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use super::citizens::{self, NAME, PHONE, proven};
use super::service::IdentityService;
use super::{IdCardNo, IdCardNoError, PersonName, PersonNameError, PhoneNumber};
use entities::citizen;

/// Another citizen's verified account, decrypted (each type masks itself in `Debug`).
#[derive(Debug, Clone)]
pub struct VerifiedPerson {
    pub citizen_id: i64,
    /// The blind index of the ID number, as `citizens.id_card_index`.
    pub index: String,
    pub name: PersonName,
    pub id_card_no: IdCardNo,
    pub phone: Option<PhoneNumber>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Name(#[from] PersonNameError),
    #[error(transparent)]
    IdCardNo(#[from] IdCardNoError),
    /// No verified account holds this name and ID number.
    #[error("no verified account of this person")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl IdentityService {
    /// The verified account of the person named.
    ///
    /// # Errors
    /// [`LookupError::Name`] / [`LookupError::IdCardNo`] for values that do not parse;
    /// [`LookupError::NotFound`] unless a face-verified account holds exactly this person.
    pub async fn verified_person(
        &self,
        name: &str,
        id_card_no: &str,
    ) -> Result<VerifiedPerson, LookupError> {
        let name = PersonName::parse(name)?;
        let id_card_no = IdCardNo::parse_as_of(id_card_no, self.clock.today())?;
        let index = self.id_card_index(&id_card_no);
        let row = citizen::Entity::find()
            .filter(citizen::Column::IdCardIndex.eq(index.as_str()))
            .one(&self.db)
            .await
            .context("find the person's account")?
            .ok_or(LookupError::NotFound)?;
        let proven = proven(&row).map_err(|_| LookupError::NotFound)?;
        let bound_name = self
            .cipher
            .decrypt_string(proven.name_cipher, &citizens::context(NAME, row.id))
            .context("decrypt the person's name")?;
        if bound_name != name.as_str() {
            return Err(LookupError::NotFound);
        }
        let phone = match &row.phone_cipher {
            Some(stored) => PhoneNumber::parse(
                &self
                    .cipher
                    .decrypt_string(stored, &citizens::context(PHONE, row.id))
                    .context("decrypt the person's phone")?,
            )
            .ok(),
            None => None,
        };
        Ok(VerifiedPerson {
            citizen_id: row.id,
            index,
            name,
            id_card_no,
            phone,
        })
    }
}
