//! Product images for the ImageFetcher actor: where they come from (`HttpImageSource`: the
//! ERP's `/img/articoli/{codice}`, ERP.md "Pages") and where the result goes
//! (`ProductImageSink`: `products.image_md5` and `image_fetched_at`, through the products.db
//! DbWriter like every other write to that file). `products_without_image` is the work list a
//! completed product sync hands to the fetcher.
//!
//! Images are static content, fetched with a plain HTTP client rather than a browser tab: the
//! simulator, like many real ERPs, serves them without a session. Nothing here decides when
//! to fetch or how often to retry: the ImageFetcher does.

use crate::erp::path_segment;
use crate::store::{StoreError, now_text};
use blackant_actors::db_writer::{DbHandle, open_reader};
use blackant_actors::image_fetcher::{FetchError, ImageSink, ImageSource, StoredImage};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::path::Path;
use std::time::Duration;

/// `GET {base}/img/articoli/{code}`.
pub struct HttpImageSource {
    client: reqwest::Client,
    base_url: String,
}

impl HttpImageSource {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }
}

impl ImageSource for HttpImageSource {
    fn fetch<'a>(&'a self, code: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, FetchError>> {
        async move {
            let url = format!("{}/img/articoli/{}", self.base_url, path_segment(code));
            let fail = |e: reqwest::Error| FetchError {
                message: format!("GET {url}: {e}"),
                transient: true,
            };
            let resp = self.client.get(&url).send().await.map_err(fail)?;
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                let transient =
                    status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
                return Err(FetchError {
                    message: format!("GET {url}: HTTP {status}"),
                    transient,
                });
            }
            let bytes = resp.bytes().await.map_err(fail)?;
            Ok(Some(bytes.to_vec()))
        }
        .boxed()
    }
}

/// Records a product's image in `products.db`.
pub struct ProductImageSink {
    db: DbHandle,
}

impl ProductImageSink {
    pub fn new(db: DbHandle) -> Self {
        Self { db }
    }
}

impl ImageSink for ProductImageSink {
    fn stored<'a>(
        &'a self,
        code: &'a str,
        image: Option<&'a StoredImage>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let code = code.to_string();
        let md5 = image.map(|i| i.md5.clone());
        async move {
            self.db
                .write(move |tx| {
                    tx.execute(
                        "UPDATE products SET image_md5 = ?2, image_fetched_at = ?3 WHERE code = ?1",
                        rusqlite::params![code, md5, now_text()],
                    )
                    .map_err(StoreError::sql("recording a product image"))
                })
                .await
                .map(|_| ())
                .map_err(|e: StoreError| e.to_string())
        }
        .boxed()
    }
}

/// Live products whose image was never fetched (read-only, like any reader).
pub fn products_without_image(products_db: &Path) -> Result<Vec<String>, StoreError> {
    let what = || "listing products without an image".to_string();
    let conn = open_reader(products_db).map_err(StoreError::sql(what()))?;
    let mut stmt = conn
        .prepare("SELECT code FROM products WHERE deleted_at IS NULL AND image_fetched_at IS NULL ORDER BY code")
        .map_err(StoreError::sql(what()))?;
    stmt.query_map([], |r| r.get(0))
        .map_err(StoreError::sql(what()))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::sql(what()))
}
