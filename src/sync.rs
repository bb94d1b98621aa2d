//! The one lock-poisoning policy. Every mutex here guards a slot that is written in one step (a
//! snapshot, a progress record, a dialog's choice), so a thread that panicked while holding it
//! cannot have left it half-written: the data is used as it is, and the panic itself is
//! reported where it happened (the worker threads catch panics and send them as error events).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the data of a poisoned lock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let m = std::sync::Arc::new(Mutex::new(7));
        let m2 = m.clone();
        let _ = std::thread::Builder::new()
            .name("poisoner".into())
            .spawn(move || {
                let _g = m2.lock().unwrap();
                panic!("poison the lock");
            })
            .unwrap()
            .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 7);
    }
}
