//! Moving parsed runtime events off the child's stdout onto a channel, so
//! the turn runner and the agent host can `select!` between the next event,
//! a stall timer and a stop request.

use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use overstory_runtime::stream_json::{EventReader, RuntimeEvent};

/// One item from [`pump`].
pub(crate) enum Feed {
    /// The next parsed event.
    Event(Box<RuntimeEvent>),
    /// Reading stdout failed; nothing follows.
    Failed(std::io::Error),
}

/// Spawns a task that reads `reader` to the end and forwards each event.
/// The channel closes at end of stream, after a read error (sent as
/// [`Feed::Failed`]) or when the receiver is dropped. Abort the returned
/// task to stop reading early.
pub(crate) fn pump(
    mut reader: EventReader<Box<dyn AsyncRead + Send + Unpin>>,
) -> (mpsc::Receiver<Feed>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Feed>(1024);
    let task = tokio::spawn(async move {
        loop {
            match reader.next().await {
                Ok(Some(ev)) => {
                    if tx.send(Feed::Event(Box::new(ev))).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Feed::Failed(e)).await;
                    break;
                }
            }
        }
    });
    (rx, task)
}
