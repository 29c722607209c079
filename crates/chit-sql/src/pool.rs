//! A minimal connection pool: connections are taken, used and given back. At most `size_max`
//! are open at once; a caller finding them all in use waits for one to come back. Bounded on
//! purpose: under load, hundreds of blocking threads would otherwise each open (and soon close)
//! a connection of their own, which costs far more than the wait (a SQLite connection re-reads
//! the schema and re-prepares its statements; a PostgreSQL server refuses connections beyond its
//! limit). Code must not take a second connection from a pool while holding one.

use std::sync::{Condvar, Mutex};

use chit_ledger::StoreError;

type Connect<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

pub struct Pool<C: Send + 'static> {
    connect: Connect<C>,
    state: Mutex<PoolState<C>>,
    returned: Condvar,
    size_max: usize,
}

struct PoolState<C> {
    idle: Vec<C>,
    /// Connections open, idle or in use.
    open: usize,
}

/// A slot counted in `open`; given back (or freed) when dropped, even if the user panicked.
struct Taken<'a, C: Send + 'static> {
    pool: &'a Pool<C>,
    conn: Option<C>,
}

impl<C: Send + 'static> Drop for Taken<'_, C> {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.conn.take() {
            Some(conn) => state.idle.push(conn),
            None => state.open -= 1,
        }
        drop(state);
        self.pool.returned.notify_one();
    }
}

impl<C: Send + 'static> Pool<C> {
    pub fn new(size_max: usize, connect: Connect<C>) -> Self {
        assert!(size_max > 0, "a pool holds at least one connection");
        Self {
            connect,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            size_max,
        }
    }

    /// Runs `f` on a pooled connection. A connection whose use failed or panicked is closed, not
    /// reused.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut C) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut taken = self.take()?;
        // Out of the guard while in use: if `f` panics the connection is closed, not reused.
        let mut conn = taken.conn.take().expect("a taken connection");
        let result = f(&mut conn);
        if result.is_ok() {
            taken.conn = Some(conn);
        }
        result
    }

    fn take(&self) -> Result<Taken<'_, C>, StoreError> {
        let mut state = self.state.lock().expect("pool lock");
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Taken {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.size_max {
                state.open += 1;
                drop(state);
                // The slot is counted before connecting; the guard frees it if that fails.
                let mut taken = Taken {
                    pool: self,
                    conn: None,
                };
                taken.conn = Some((self.connect)()?);
                return Ok(taken);
            }
            state = self.returned.wait(state).expect("pool lock");
        }
    }
}

impl<C: Send + 'static> Drop for Pool<C> {
    /// Closes idle connections on a plain thread: some clients (the synchronous PostgreSQL one)
    /// run their own runtime to close, which panics if the pool is dropped inside an async task.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let idle = std::mem::take(&mut state.idle);
        if idle.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A pool of plain numbers counting how many connections were ever opened.
    fn counting(size_max: usize) -> (Arc<Pool<usize>>, Arc<AtomicUsize>) {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let pool = Pool::new(
            size_max,
            Box::new(move || Ok(counter.fetch_add(1, Ordering::SeqCst))),
        );
        (Arc::new(pool), opened)
    }

    #[test]
    fn many_threads_share_at_most_size_max_connections() {
        let (pool, opened) = counting(2);
        let busy = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (pool, busy, most) = (pool.clone(), busy.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        pool.with(|_| {
                            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            busy.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(opened.load(Ordering::SeqCst), 2, "connections are reused");
    }

    #[test]
    fn a_failed_use_a_failed_connect_and_a_panic_each_free_their_slot() {
        let (pool, opened) = counting(1);
        let e = pool.with(|_| Err::<(), _>(StoreError::Backend("use failed".into())));
        assert!(e.is_err());
        let p = pool.clone();
        let panicked = std::thread::spawn(move || {
            p.with(|_| -> Result<(), StoreError> { panic!("user panics") })
        });
        assert!(panicked.join().is_err());
        // Both connections were closed, their slot freed: a third opens.
        assert_eq!(pool.with(|c| Ok(*c)).unwrap(), 2);
        assert_eq!(opened.load(Ordering::SeqCst), 3);

        let failing: Pool<usize> =
            Pool::new(1, Box::new(|| Err(StoreError::Backend("no server".into()))));
        assert!(failing.with(|_| Ok(())).is_err());
        assert!(
            failing.with(|_| Ok(())).is_err(),
            "the slot came back: no deadlock"
        );
    }
}
