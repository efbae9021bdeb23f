//! ImageFetcher: downloads images in the background, never in a sync's way.
//!
//! Keys (product codes) are queued with [`ImageFetcherMessage::Enqueue`] (duplicates are
//! ignored while queued or in flight); at most `concurrency` downloads run at once, each in its
//! own task. A downloaded image is stored content-addressed — `dir/{md5[0..2]}/{md5}.{ext}`,
//! written to a temporary file and renamed, so the same picture is stored once and a reader
//! never sees half a file — and then reported to the [`ImageSink`] (which records it next to
//! the product). Transient errors are retried with the [`RetryPolicy`] backoff; a key the
//! source says has no image is reported as such, so it is not asked for again and again.
//!
//! The fetcher's only link to a sync is the queue: a product sync enqueues and goes on; slow
//! images slow only this actor. It knows nothing of HTTP or SQLite: the [`ImageSource`] and
//! the sink are the root crate's.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, warn};

use crate::sync::RetryPolicy;

/// Why an image could not be downloaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// What happened (the source's words).
    pub message: String,
    /// Worth another try (network, 5xx, timeout).
    pub transient: bool,
}

/// Where images come from.
pub trait ImageSource: Send + Sync + 'static {
    /// The image of `key`: its bytes, or `None` when the source has no image for it.
    fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, FetchError>>;
}

/// An image stored on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// MD5 of the bytes (hex): the content address.
    pub md5: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
}

/// Where results go (e.g. the product's `image_md5`).
pub trait ImageSink: Send + Sync + 'static {
    /// `key` has this image (`None`: the source has none).
    fn stored<'a>(
        &'a self,
        key: &'a str,
        image: Option<&'a StoredImage>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Counters and queue lengths, for status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageFetcherStatus {
    /// Waiting for a download slot (retries waiting for their delay included).
    pub queued: usize,
    /// Downloading now.
    pub in_flight: usize,
    /// Images stored since start.
    pub stored: u64,
    /// Keys the source has no image for.
    pub missing: u64,
    /// Keys given up on (permanent error, or retries exhausted).
    pub failed: u64,
}

/// Messages of [`ImageFetcher`].
pub enum ImageFetcherMessage {
    /// Queue these keys.
    Enqueue(Vec<String>),
    /// Counters now.
    Status(RpcReplyPort<ImageFetcherStatus>),
    /// Answered once nothing is queued or in flight and at least `at_least` keys have been
    /// finished (stored, missing or given up) since start: wait on the work, not on a clock.
    WaitFinished {
        at_least: u64,
        reply: RpcReplyPort<ImageFetcherStatus>,
    },
    /// A download task ended (sent by the task itself).
    #[doc(hidden)]
    Done {
        key: String,
        result: Result<Found, FetchError>,
    },
    /// A retry delay elapsed.
    #[doc(hidden)]
    RetryDue(String),
}

/// What a finished download found.
#[doc(hidden)]
pub enum Found {
    Stored,
    Missing,
}

/// What the parent hands over.
#[derive(Clone)]
pub struct ImageFetcherArguments {
    pub source: Arc<dyn ImageSource>,
    pub sink: Arc<dyn ImageSink>,
    /// Root of the content-addressed files.
    pub dir: PathBuf,
    /// Downloads at once (at least 1).
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

/// The actor.
pub struct ImageFetcher;

/// Its state.
pub struct ImageFetcherState {
    args: ImageFetcherArguments,
    queue: VecDeque<String>,
    /// Queued, waiting for a retry, or in flight: never queued twice.
    known: HashSet<String>,
    in_flight: HashMap<String, AbortOnDropHandle<()>>,
    retry_timers: HashMap<String, AbortOnDropHandle<Result<(), MessagingErr<ImageFetcherMessage>>>>,
    attempts: HashMap<String, u32>,
    counts: ImageFetcherStatus,
    waiters: Vec<(u64, RpcReplyPort<ImageFetcherStatus>)>,
    rng: StdRng,
}

impl ImageFetcherState {
    fn status(&self) -> ImageFetcherStatus {
        ImageFetcherStatus {
            queued: self.queue.len() + self.retry_timers.len(),
            in_flight: self.in_flight.len(),
            ..self.counts
        }
    }
}

/// The file an image with this content goes to.
pub fn image_path(dir: &Path, md5: &str, bytes: &[u8]) -> PathBuf {
    let ext = if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "jpg"
    } else {
        "img"
    };
    dir.join(&md5[..2]).join(format!("{md5}.{ext}"))
}

/// Store `bytes` content-addressed under `dir` (once: an existing file is kept).
fn store(dir: &Path, bytes: &[u8]) -> std::io::Result<StoredImage> {
    let md5 = crate::digest::md5_hex(bytes);
    let path = image_path(dir, &md5, bytes);
    if !path.exists() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("part{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(StoredImage {
        md5,
        path,
        bytes: bytes.len(),
    })
}

async fn download(args: ImageFetcherArguments, key: String) -> Result<Found, FetchError> {
    let Some(bytes) = args.source.fetch(&key).await? else {
        args.sink.stored(&key, None).await.map_err(|e| FetchError {
            message: format!("recording that {key} has no image: {e}"),
            transient: true,
        })?;
        return Ok(Found::Missing);
    };
    let dir = args.dir.clone();
    let image = tokio::task::spawn_blocking(move || store(&dir, &bytes))
        .await
        .map_err(|e| FetchError {
            message: format!("storing the image of {key}: {e}"),
            transient: true,
        })?
        .map_err(|e| FetchError {
            message: format!("storing the image of {key}: {e}"),
            transient: true,
        })?;
    args.sink
        .stored(&key, Some(&image))
        .await
        .map_err(|e| FetchError {
            message: format!("recording the image of {key}: {e}"),
            transient: true,
        })?;
    Ok(Found::Stored)
}

impl ImageFetcher {
    /// Start downloads while there are free slots.
    fn pump(myself: &ActorRef<ImageFetcherMessage>, state: &mut ImageFetcherState) {
        while state.in_flight.len() < state.args.concurrency.max(1) {
            let Some(key) = state.queue.pop_front() else {
                break;
            };
            let (me, args, k) = (myself.clone(), state.args.clone(), key.clone());
            let task = tokio::spawn(async move {
                let result = download(args, k.clone()).await;
                let _ = me.cast(ImageFetcherMessage::Done { key: k, result });
            });
            state.in_flight.insert(key, AbortOnDropHandle::new(task));
        }
        if state.queue.is_empty() && state.in_flight.is_empty() && state.retry_timers.is_empty() {
            let status = state.status();
            let finished = status.stored + status.missing + status.failed;
            let (ready, waiting): (Vec<_>, Vec<_>) = state
                .waiters
                .drain(..)
                .partition(|(at_least, _)| finished >= *at_least);
            state.waiters = waiting;
            for (_, w) in ready {
                let _ = w.send(status);
            }
        }
    }
}

impl Actor for ImageFetcher {
    type Msg = ImageFetcherMessage;
    type State = ImageFetcherState;
    type Arguments = ImageFetcherArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ImageFetcherArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ImageFetcherState {
            args,
            queue: VecDeque::new(),
            known: HashSet::new(),
            in_flight: HashMap::new(),
            retry_timers: HashMap::new(),
            attempts: HashMap::new(),
            counts: ImageFetcherStatus::default(),
            waiters: Vec::new(),
            rng: StdRng::from_os_rng(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ImageFetcherMessage::Enqueue(keys) => {
                for key in keys {
                    if state.known.insert(key.clone()) {
                        state.queue.push_back(key);
                    }
                }
            }
            ImageFetcherMessage::Status(reply) => {
                let _ = reply.send(state.status());
            }
            ImageFetcherMessage::WaitFinished { at_least, reply } => {
                state.waiters.push((at_least, reply))
            }
            ImageFetcherMessage::Done { key, result } => {
                state.in_flight.remove(&key);
                match result {
                    Ok(found) => {
                        match found {
                            Found::Stored => state.counts.stored += 1,
                            Found::Missing => state.counts.missing += 1,
                        }
                        state.attempts.remove(&key);
                        state.known.remove(&key);
                    }
                    Err(e) => {
                        let attempt = state.attempts.entry(key.clone()).or_insert(1);
                        if e.transient && *attempt < state.args.retry.max_attempts {
                            let delay = state.args.retry.delay(*attempt, &mut state.rng);
                            *attempt += 1;
                            debug!(%key, cause = %e, ?delay, "image download failed; retrying");
                            let k = key.clone();
                            let timer =
                                myself.send_after(delay, move || ImageFetcherMessage::RetryDue(k));
                            state
                                .retry_timers
                                .insert(key, AbortOnDropHandle::new(timer));
                        } else {
                            warn!(%key, cause = %e, "giving up on an image");
                            state.counts.failed += 1;
                            state.attempts.remove(&key);
                            state.known.remove(&key);
                        }
                    }
                }
            }
            ImageFetcherMessage::RetryDue(key) => {
                if state.retry_timers.remove(&key).is_some() {
                    state.queue.push_back(key);
                }
            }
        }
        Self::pump(&myself, state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Images are the key's bytes; "missing" has none; "flaky" fails once; "broken" always.
    struct Source {
        calls: Mutex<Vec<String>>,
        gate: tokio::sync::Semaphore,
    }

    impl ImageSource for Source {
        fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, FetchError>> {
            Box::pin(async move {
                let _permit = self.gate.acquire().await.map_err(|_| FetchError {
                    message: "closed".into(),
                    transient: false,
                })?;
                let n = {
                    let mut calls = self.calls.lock().unwrap();
                    calls.push(key.to_string());
                    calls.iter().filter(|k| *k == key).count()
                };
                match key {
                    "missing" => Ok(None),
                    "flaky" if n == 1 => Err(FetchError {
                        message: "HTTP 503".into(),
                        transient: true,
                    }),
                    "broken" => Err(FetchError {
                        message: "HTTP 403".into(),
                        transient: false,
                    }),
                    "same-a" | "same-b" => Ok(Some(b"\x89PNG shared".to_vec())),
                    k => Ok(Some(format!("\x7fimg {k}").into_bytes())),
                }
            })
        }
    }

    #[derive(Default)]
    struct Sink(Mutex<Vec<(String, Option<StoredImage>)>>);

    impl ImageSink for Sink {
        fn stored<'a>(
            &'a self,
            key: &'a str,
            image: Option<&'a StoredImage>,
        ) -> BoxFuture<'a, Result<(), String>> {
            self.0
                .lock()
                .unwrap()
                .push((key.to_string(), image.cloned()));
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn images_are_stored_once_by_content_missing_ones_recorded_and_transient_errors_retried()
    {
        let dir = tempfile::tempdir().unwrap();
        let source = Arc::new(Source {
            calls: Mutex::default(),
            gate: tokio::sync::Semaphore::new(1_000),
        });
        let sink = Arc::new(Sink::default());
        let args = ImageFetcherArguments {
            source: source.clone(),
            sink: sink.clone(),
            dir: dir.path().to_path_buf(),
            concurrency: 2,
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(100),
                max: Duration::from_secs(1),
            },
        };
        let (fetcher, _) = Actor::spawn(None, ImageFetcher, args).await.unwrap();
        let keys = ["a", "same-a", "same-b", "missing", "flaky", "broken", "a"];
        fetcher
            .cast(ImageFetcherMessage::Enqueue(
                keys.iter().map(|k| k.to_string()).collect(),
            ))
            .unwrap();
        let status = ractor::call!(fetcher, |reply| ImageFetcherMessage::WaitFinished {
            at_least: 6,
            reply
        })
        .unwrap();
        assert_eq!(
            status,
            ImageFetcherStatus {
                queued: 0,
                in_flight: 0,
                stored: 4,
                missing: 1,
                failed: 1
            },
            "a, same-a, same-b and flaky (after one retry) stored; missing recorded; broken given up"
        );
        let calls = source.calls.lock().unwrap().clone();
        assert_eq!(
            calls.iter().filter(|k| *k == "a").count(),
            1,
            "a key queued twice is fetched once"
        );
        assert_eq!(calls.iter().filter(|k| *k == "flaky").count(), 2);
        let got = sink.0.lock().unwrap().clone();
        let image = |k: &str| {
            got.iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, i)| i.clone())
                .unwrap()
        };
        assert_eq!(
            image("same-a").path,
            image("same-b").path,
            "one file per content"
        );
        assert!(image("same-a").path.extension().is_some_and(|e| e == "png"));
        let bytes = std::fs::read(&image("a").path).unwrap();
        let md5 = crate::digest::md5_hex(&bytes);
        assert_eq!(md5, image("a").md5);
        assert!(
            image("a").path.to_string_lossy().contains(&md5),
            "the file is named by its content"
        );
        assert!(got.iter().any(|(k, i)| k == "missing" && i.is_none()));
        assert!(!got.iter().any(|(k, _)| k == "broken"));
    }

    #[tokio::test]
    async fn at_most_concurrency_downloads_run_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let source = Arc::new(Source {
            calls: Mutex::default(),
            gate: tokio::sync::Semaphore::new(0),
        });
        let args = ImageFetcherArguments {
            source: source.clone(),
            sink: Arc::new(Sink::default()),
            dir: dir.path().to_path_buf(),
            concurrency: 3,
            retry: RetryPolicy::default(),
        };
        let (fetcher, _) = Actor::spawn(None, ImageFetcher, args).await.unwrap();
        fetcher
            .cast(ImageFetcherMessage::Enqueue(
                (0..10).map(|i| format!("k{i}")).collect(),
            ))
            .unwrap();
        let status = ractor::call!(fetcher, ImageFetcherMessage::Status).unwrap();
        assert_eq!((status.in_flight, status.queued), (3, 7));
        source.gate.add_permits(100);
        let done = ractor::call!(fetcher, |reply| ImageFetcherMessage::WaitFinished {
            at_least: 10,
            reply
        })
        .unwrap();
        assert_eq!(done.stored, 10);
    }
}
