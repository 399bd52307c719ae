//! Where uploaded materials' bytes live: content-addressed by SHA-256 behind [`BlobStore`], so
//! object storage can replace the directory without touching the domain.

use std::io::ErrorKind;
use std::path::PathBuf;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

/// The kinds of file a material may be, recognised by their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialType {
    Pdf,
    Jpeg,
    Png,
}

impl MaterialType {
    /// Recognises a file by its first bytes, whatever it is called.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match infer::get(bytes)?.mime_type() {
            "application/pdf" => Some(Self::Pdf),
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type {
            "application/pdf" => Some(Self::Pdf),
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            _ => None,
        }
    }

    /// Whether an item's `formats` (file extensions such as `pdf`, `jpg`) admit this type; an
    /// empty list admits all three.
    pub fn admitted_by(self, formats: &[String]) -> bool {
        formats.is_empty()
            || formats.iter().any(|f| {
                let f = f.trim().to_ascii_lowercase();
                match self {
                    Self::Pdf => f == "pdf",
                    Self::Jpeg => f == "jpg" || f == "jpeg",
                    Self::Png => f == "png",
                }
            })
    }
}

/// Lowercase hex SHA-256 of `bytes`: a blob's address.
pub fn address_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Content-addressed bytes. `put` is idempotent: the same bytes always land at the same address.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under their SHA-256 and returns it.
    async fn put(&self, bytes: &[u8]) -> anyhow::Result<String>;
    /// The bytes stored under `sha256`; `None` if there are none.
    async fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>>;
}

/// A directory: `<root>/<first two hex digits>/<sha256>`. Written to a temporary name and
/// renamed, so a reader never sees half a file and two writers of the same bytes never clash.
#[derive(Debug, Clone)]
pub struct DirBlobStore {
    root: PathBuf,
}

impl DirBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, sha256: &str) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()),
            "not a sha256: {sha256:?}"
        );
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }
}

#[async_trait]
impl BlobStore for DirBlobStore {
    async fn put(&self, bytes: &[u8]) -> anyhow::Result<String> {
        let sha256 = address_of(bytes);
        let path = self.path(&sha256)?;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(sha256);
        }
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await?;
        let temp = dir.join(format!(".{sha256}.{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&temp, bytes).await?;
        if let Err(e) = tokio::fs::rename(&temp, &path).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e.into());
        }
        Ok(sha256)
    }

    async fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(sha256)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

    #[test]
    fn recognises_the_three_types_by_content_only() {
        assert_eq!(MaterialType::sniff(PNG), Some(MaterialType::Png));
        assert_eq!(MaterialType::sniff(JPEG), Some(MaterialType::Jpeg));
        assert_eq!(MaterialType::sniff(PDF), Some(MaterialType::Pdf));
        assert_eq!(MaterialType::sniff(b"MZ\x90\0\x03\0\0\0"), None);
        assert_eq!(MaterialType::sniff(b"GIF89a......"), None);
        assert_eq!(MaterialType::sniff(b"plain text pretending"), None);
        assert_eq!(MaterialType::sniff(b""), None);
    }

    #[test]
    fn formats_admit_by_extension() {
        let formats = vec!["PDF".to_owned(), "jpg".to_owned()];
        assert!(MaterialType::Pdf.admitted_by(&formats));
        assert!(MaterialType::Jpeg.admitted_by(&formats));
        assert!(!MaterialType::Png.admitted_by(&formats));
        assert!(MaterialType::Png.admitted_by(&[]));
    }

    #[tokio::test]
    async fn a_directory_stores_by_content_and_refuses_bad_addresses() {
        let dir = std::env::temp_dir().join(format!("zsb-blobs-{}", uuid::Uuid::new_v4()));
        let store = DirBlobStore::new(&dir);
        let a = store.put(PDF).await.unwrap();
        assert_eq!(a, address_of(PDF));
        assert_eq!(store.put(PDF).await.unwrap(), a);
        assert_eq!(store.get(&a).await.unwrap().as_deref(), Some(PDF));
        assert_eq!(store.get(&address_of(PNG)).await.unwrap(), None);
        assert!(store.get("../../etc/passwd").await.is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
