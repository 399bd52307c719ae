//! Queue numbers handed out in blocks: an instance reserves a run of numbers of a (hall, day,
//! prefix) with one short statement of its own (`UPDATE … last = last + n RETURNING last`,
//! committed before any of them is used) and then gives them out from memory, so tickets of one
//! category no longer wait for each other's commits on the sequence row.
//!
//! What holds, and what a citizen may notice:
//! - A number is never given twice in a day: a block is the database's before it is used, a
//!   crash, a restart or a flushed store only loses what was left of a block (a gap), and the
//!   unique `(hall, day, number)` index stays the last word.
//! - Numbers run in the order of issue within an instance; across instances they interleave
//!   by blocks (A001–A004 on one, A005–A012 on the other…). The call order never depended on
//!   them: priority, then the time of issue.
//! - Gaps: a block is one number while takers come one at a time (a quiet hall sees A001,
//!   A002, A003 as before, and a booking's check-in, numbered from the row inside its own
//!   transaction, follows on); it doubles, up to [`MAX_BLOCK`], each time it runs out while
//!   other takers of the sequence wait on this instance, and halves when none do. So a restart
//!   loses at most one block of a hall's rush (≤ [`MAX_BLOCK`] numbers per category and
//!   instance), and nothing when the hall is quiet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use sea_orm::DatabaseConnection;

use super::queries;

/// The largest block an instance reserves at once.
pub const MAX_BLOCK: i32 = 64;
/// Sequences of days before yesterday are forgotten once this many are kept.
const PRUNE_PAST: usize = 1_000;

type Key = (i64, NaiveDate, String);

#[derive(Debug)]
struct Block {
    /// The next number to give; past `last` when the block is used up.
    next: i32,
    last: i32,
    /// The size of the block reserved last.
    size: i32,
}

impl Default for Block {
    fn default() -> Self {
        Self {
            next: 1,
            last: 0,
            size: 0,
        }
    }
}

impl Block {
    /// The size of the next reservation, with `waiting` other takers queued behind this one.
    fn next_size(&self, waiting: usize) -> i32 {
        if waiting > 0 {
            (self.size * 2).clamp(1, MAX_BLOCK)
        } else {
            (self.size / 2).max(1)
        }
    }
}

/// One sequence's block and how many takers wait for it.
#[derive(Debug, Default)]
struct Sequence {
    waiting: AtomicUsize,
    block: tokio::sync::Mutex<Block>,
}

/// This instance's blocks of queue numbers; cheap to clone.
#[derive(Clone)]
pub(crate) struct Numbers {
    db: DatabaseConnection,
    blocks: Arc<Mutex<HashMap<Key, Arc<Sequence>>>>,
}

impl Numbers {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            blocks: Arc::default(),
        }
    }

    /// The next number of (hall, day, prefix) for this instance, from its block or from a new
    /// one reserved now (takers of one sequence queue for it in arrival order).
    ///
    /// # Errors
    /// The database refused the reservation.
    pub(crate) async fn next(
        &self,
        hall_id: i64,
        day: NaiveDate,
        prefix: &str,
    ) -> anyhow::Result<i32> {
        let block = {
            let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
            if blocks.len() > PRUNE_PAST {
                let yesterday = day.pred_opt().unwrap_or(day);
                blocks.retain(|(_, d, _), _| *d >= yesterday);
            }
            Arc::clone(blocks.entry((hall_id, day, prefix.to_owned())).or_default())
        };
        let sequence = block;
        sequence.waiting.fetch_add(1, Ordering::AcqRel);
        let mut block = sequence.block.lock().await;
        let waiting = sequence.waiting.fetch_sub(1, Ordering::AcqRel) - 1;
        if block.next <= block.last {
            let n = block.next;
            block.next += 1;
            return Ok(n);
        }
        let size = block.next_size(waiting);
        let last = queries::reserve_numbers(&self.db, hall_id, day, prefix, size).await?;
        let first = last - size + 1;
        *block = Block {
            next: first + 1,
            last,
            size,
        };
        Ok(first)
    }

    /// Takes `n` back when it was the last number given and its ticket was refused (a
    /// citizen's second live ticket), so that a refusal leaves no gap in the common case.
    pub(crate) fn give_back(&self, hall_id: i64, day: NaiveDate, prefix: &str, n: i32) {
        let block = self
            .blocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(hall_id, day, prefix.to_owned()))
            .cloned();
        if let Some(sequence) = block
            && let Ok(mut block) = sequence.block.try_lock()
            && block.next == n + 1
        {
            block.next = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_grows_while_takers_wait_and_shrinks_when_none_do() {
        let mut block = Block::default();
        assert_eq!(block.next_size(0), 1, "the first block is one number");
        assert_eq!(block.next_size(3), 1);
        block.size = 1;
        assert_eq!(block.next_size(0), 1, "one at a time: one number at a time");
        assert_eq!(block.next_size(1), 2);
        block.size = MAX_BLOCK;
        assert_eq!(block.next_size(5), MAX_BLOCK, "never past the largest");
        assert_eq!(block.next_size(0), MAX_BLOCK / 2);
    }
}
