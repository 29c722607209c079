//! A minimal connection pool for readers: connections are taken, used and given back; at most
//! `idle_max` are kept open between uses. Engines use it for their read connections.

use std::sync::Mutex;

use crate::store::StoreError;

type Connect<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

pub struct Pool<C: Send + 'static> {
    connect: Connect<C>,
    idle: Mutex<Vec<C>>,
    idle_max: usize,
}

impl<C: Send + 'static> Pool<C> {
    pub fn new(idle_max: usize, connect: Connect<C>) -> Self {
        Self {
            connect,
            idle: Mutex::new(Vec::new()),
            idle_max,
        }
    }

    /// Runs `f` on a pooled connection. A connection whose use failed is dropped, not reused.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut C) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().expect("pool lock").pop();
        let mut conn = match taken {
            Some(c) => c,
            None => (self.connect)()?,
        };
        let result = f(&mut conn);
        if result.is_ok() {
            let mut idle = self.idle.lock().expect("pool lock");
            if idle.len() < self.idle_max {
                idle.push(conn);
            }
        }
        result
    }
}

impl<C: Send + 'static> Drop for Pool<C> {
    /// Closes idle connections on a plain thread: some clients (the synchronous PostgreSQL one)
    /// run their own runtime to close, which panics if the pool is dropped inside an async task.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if idle.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}
