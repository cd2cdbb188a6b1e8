//! Outcome types: how one task ended ([`Outcome`]), how a task's output is
//! classified ([`TaskOutput`]), every fault of a batch ([`Faults`]) and why an
//! aggregate did not succeed ([`Failure`]).

use alloc::vec::Vec;
use core::error::Error;
use core::fmt;
use core::iter::FusedIterator;

/// How one task of a batch ended.
///
/// These are the three final states of .NET's `TaskStatus`:
/// [`Completed`](Outcome::Completed) is `RanToCompletion`,
/// [`Faulted`](Outcome::Faulted) is `Faulted` and
/// [`Canceled`](Outcome::Canceled) is `Canceled`. A settled batch is a list of
/// `Outcome`s in input order, like the `{ status, value | reason }` records of
/// JavaScript's `Promise.allSettled`, plus the cancellation state that promises
/// lack.
///
/// A task's output becomes an `Outcome` through [`TaskOutput`]: `Ok` is
/// `Completed`, `Err` is `Faulted`, and a task the batch canceled (or that
/// returned `Outcome::Canceled` itself) is `Canceled`.
///
/// # Examples
///
/// ```
/// use fanout::Outcome;
///
/// let outcomes: Vec<Outcome<u32, &str>> = vec![
///     Outcome::from(Ok(1)),
///     Outcome::from(Err("boom")),
///     Outcome::Canceled,
/// ];
///
/// assert!(outcomes[0].is_completed());
/// assert!(outcomes[1].is_faulted());
/// assert!(outcomes[2].is_canceled());
///
/// let values: Vec<u32> = outcomes.iter().filter_map(|o| o.as_ref().completed().copied()).collect();
/// assert_eq!(values, [1]);
///
/// let doubled = outcomes[0].map(|v| v * 2);
/// assert_eq!(doubled, Outcome::Completed(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome<T, E> {
    /// The task ran to completion and produced a value (.NET
    /// `TaskStatus.RanToCompletion`, a fulfilled promise).
    Completed(T),
    /// The task failed with an error (.NET `TaskStatus.Faulted`, a rejected
    /// promise).
    Faulted(E),
    /// The task did not finish: it was canceled, by the batch or by itself
    /// (.NET `TaskStatus.Canceled`).
    Canceled,
}

impl<T, E> Outcome<T, E> {
    /// Returns `true` if the task ran to completion (`TaskStatus.RanToCompletion`).
    #[must_use]
    pub const fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed(_))
    }

    /// Returns `true` if the task faulted (`TaskStatus.Faulted`).
    #[must_use]
    pub const fn is_faulted(&self) -> bool {
        matches!(self, Outcome::Faulted(_))
    }

    /// Returns `true` if the task was canceled (`TaskStatus.Canceled`).
    #[must_use]
    pub const fn is_canceled(&self) -> bool {
        matches!(self, Outcome::Canceled)
    }

    /// The value of a completed task, or `None` if it faulted or was canceled.
    pub fn completed(self) -> Option<T> {
        match self {
            Outcome::Completed(value) => Some(value),
            Outcome::Faulted(_) | Outcome::Canceled => None,
        }
    }

    /// The error of a faulted task, or `None` if it completed or was canceled.
    pub fn faulted(self) -> Option<E> {
        match self {
            Outcome::Faulted(error) => Some(error),
            Outcome::Completed(_) | Outcome::Canceled => None,
        }
    }

    /// Borrows the value or error: converts `&Outcome<T, E>` to
    /// `Outcome<&T, &E>`.
    #[must_use]
    pub const fn as_ref(&self) -> Outcome<&T, &E> {
        match self {
            Outcome::Completed(value) => Outcome::Completed(value),
            Outcome::Faulted(error) => Outcome::Faulted(error),
            Outcome::Canceled => Outcome::Canceled,
        }
    }

    /// Transforms the value of a completed task with `f`; faults and
    /// cancellations are passed through unchanged.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U, E> {
        match self {
            Outcome::Completed(value) => Outcome::Completed(f(value)),
            Outcome::Faulted(error) => Outcome::Faulted(error),
            Outcome::Canceled => Outcome::Canceled,
        }
    }

    /// Transforms the error of a faulted task with `f`; values and
    /// cancellations are passed through unchanged.
    pub fn map_fault<F2>(self, f: impl FnOnce(E) -> F2) -> Outcome<T, F2> {
        match self {
            Outcome::Completed(value) => Outcome::Completed(value),
            Outcome::Faulted(error) => Outcome::Faulted(f(error)),
            Outcome::Canceled => Outcome::Canceled,
        }
    }
}

impl<T, E> From<Result<T, E>> for Outcome<T, E> {
    /// `Ok(v)` becomes `Completed(v)` and `Err(e)` becomes `Faulted(e)`.
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Outcome::Completed(value),
            Err(error) => Outcome::Faulted(error),
        }
    }
}

/// Classifies a task's output into an [`Outcome`].
///
/// The combinators accept any future whose output implements `TaskOutput`.
/// [`Result<T, E>`] is the usual choice (`Ok` is completed, `Err` is a fault,
/// as an exception thrown from a .NET task makes it `Faulted`); a task that
/// can also report its own cancellation (like a .NET task that throws
/// `OperationCanceledException` for its token) returns an [`Outcome`], which
/// classifies as itself.
///
/// # Examples
///
/// ```
/// use fanout::{Outcome, TaskOutput};
///
/// let ok: Result<u32, &str> = Ok(7);
/// assert!(!ok.is_fault());
/// assert_eq!(ok.into_outcome(), Outcome::Completed(7));
///
/// let err: Result<u32, &str> = Err("boom");
/// assert!(err.is_fault());
/// assert_eq!(err.into_outcome(), Outcome::Faulted("boom"));
///
/// let canceled: Outcome<u32, &str> = Outcome::Canceled;
/// assert!(!canceled.is_fault());
/// assert_eq!(canceled.into_outcome(), Outcome::Canceled);
/// ```
pub trait TaskOutput {
    /// The value of a task that ran to completion.
    type Ok;
    /// The error of a task that faulted.
    type Err;

    /// Classifies this output as completed, faulted or canceled.
    fn into_outcome(self) -> Outcome<Self::Ok, Self::Err>;

    /// Returns `true` when this output is a fault.
    ///
    /// Must agree with [`into_outcome`](TaskOutput::into_outcome):
    /// `x.is_fault()` is `true` exactly when `x.into_outcome()` is
    /// [`Outcome::Faulted`]. Fail-fast combinators use it to decide whether to
    /// cancel the rest of the batch without consuming the value.
    fn is_fault(&self) -> bool;
}

impl<T, E> TaskOutput for Result<T, E> {
    type Ok = T;
    type Err = E;

    /// `Ok(v)` is `Completed(v)` and `Err(e)` is `Faulted(e)`.
    fn into_outcome(self) -> Outcome<T, E> {
        Outcome::from(self)
    }

    /// `true` for `Err`.
    fn is_fault(&self) -> bool {
        self.is_err()
    }
}

impl<T, E> TaskOutput for Outcome<T, E> {
    type Ok = T;
    type Err = E;

    /// The identity: the task already classified its own output.
    fn into_outcome(self) -> Outcome<T, E> {
        self
    }

    /// `true` for [`Outcome::Faulted`].
    fn is_fault(&self) -> bool {
        self.is_faulted()
    }
}

/// Every fault of a batch, each with the index of its task, in index (input)
/// order.
///
/// This is .NET's `AggregateException` as thrown by a faulted `Task.WhenAll`:
/// its `InnerExceptions` are in the order of the input tasks, not the order in
/// which they failed, and `await` rethrows the first of them, which here is
/// [`first`](Faults::first). Each error also carries the position of its task
/// in the input, which `AggregateException` does not.
///
/// Entries are sorted by index, non-decreasing. The combinators report at
/// most one fault per task, so the indices of a `Faults` they return are
/// strictly increasing; a `Faults` collected with [`FromIterator`] keeps
/// duplicate indices, in their input order (the sort is stable).
///
/// # Examples
///
/// ```
/// use fanout::Faults;
///
/// // Built here by collecting `(index, error)` pairs; the combinators
/// // build it for you.
/// let faults: Faults<&str> = [(3, "bang"), (1, "boom")].into_iter().collect();
///
/// assert_eq!(faults.len(), 2);
/// assert_eq!(faults.first(), Some(&"boom"));
/// assert_eq!(faults.first_index(), Some(1));
/// assert_eq!(faults.indices().collect::<Vec<_>>(), [1, 3]);
/// assert_eq!(faults.iter().collect::<Vec<_>>(), [(1, &"boom"), (3, &"bang")]);
/// assert_eq!(faults.to_string(), "2 tasks faulted; first (task 1): boom");
/// assert_eq!(format!("{faults:?}"), r#"Faults([(1, "boom"), (3, "bang")])"#);
///
/// let lengths = faults.map(str::len);
/// assert_eq!(lengths.into_vec(), [(1, 4), (3, 4)]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Faults<E> {
    /// Invariant: sorted by index, non-decreasing.
    entries: Vec<(usize, E)>,
}

impl<E> Faults<E> {
    /// An empty set of faults.
    pub(crate) const fn new() -> Self {
        Faults {
            entries: Vec::new(),
        }
    }

    /// Records that the task at `index` faulted with `error`, keeping index
    /// order.
    ///
    /// Faults usually arrive in increasing index order or close to it, so this
    /// pushes at the end when it can and otherwise inserts at the sorted
    /// position found by binary search (after any entries with the same
    /// index). Recording two faults for one task is a logic bug of the caller,
    /// caught in debug builds. (Batches collect their faults and sort them
    /// once instead; this is for building a `Faults` by hand in tests.)
    #[cfg(test)]
    pub(crate) fn insert(&mut self, index: usize, error: E) {
        match self.entries.last() {
            Some(&(last, _)) if index <= last => {
                let position = self.entries.partition_point(|&(i, _)| i <= index);
                debug_assert!(
                    position == 0 || self.entries[position - 1].0 != index,
                    "fanout: task {index} recorded as faulted twice",
                );
                self.entries.insert(position, (index, error));
            }
            _ => self.entries.push((index, error)),
        }
    }

    /// The number of faults.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns `true` if there are no faults.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fault of the task with the lowest index: the exception that
    /// `await` on a faulted .NET `Task.WhenAll` rethrows.
    #[must_use]
    pub fn first(&self) -> Option<&E> {
        self.entries.first().map(|(_, error)| error)
    }

    /// The lowest index of a faulted task.
    #[must_use]
    pub fn first_index(&self) -> Option<usize> {
        self.entries.first().map(|&(index, _)| index)
    }

    /// Iterates over `(index, &error)` pairs in index order.
    pub fn iter(&self) -> FaultsIter<'_, E> {
        FaultsIter {
            inner: self.entries.iter(),
        }
    }

    /// Iterates over the indices of the faulted tasks, in order.
    pub fn indices(&self) -> FaultIndices<'_, E> {
        FaultIndices {
            inner: self.entries.iter(),
        }
    }

    /// Takes the fault of the task with the lowest index, dropping the others.
    pub fn into_first(self) -> Option<E> {
        self.entries.into_iter().next().map(|(_, error)| error)
    }

    /// All `(index, error)` pairs, in index order.
    pub fn into_vec(self) -> Vec<(usize, E)> {
        self.entries
    }

    /// Transforms every error with `f`, in index order, keeping the indices.
    pub fn map<E2>(self, mut f: impl FnMut(E) -> E2) -> Faults<E2> {
        Faults {
            entries: self
                .entries
                .into_iter()
                .map(|(index, error)| (index, f(error)))
                .collect(),
        }
    }
}

impl<E> FromIterator<(usize, E)> for Faults<E> {
    /// Collects `(index, error)` pairs and sorts them by index.
    ///
    /// The sort is stable: pairs with the same index are kept, in the order
    /// the iterator produced them.
    fn from_iter<I: IntoIterator<Item = (usize, E)>>(iter: I) -> Self {
        let mut entries: Vec<(usize, E)> = iter.into_iter().collect();
        entries.sort_by_key(|&(index, _)| index);
        Faults { entries }
    }
}

impl<E> IntoIterator for Faults<E> {
    type Item = (usize, E);
    type IntoIter = FaultsIntoIter<E>;

    /// Iterates over `(index, error)` pairs in index order.
    fn into_iter(self) -> FaultsIntoIter<E> {
        FaultsIntoIter {
            inner: self.entries.into_iter(),
        }
    }
}

impl<'a, E> IntoIterator for &'a Faults<E> {
    type Item = (usize, &'a E);
    type IntoIter = FaultsIter<'a, E>;

    /// Iterates over `(index, &error)` pairs in index order.
    fn into_iter(self) -> FaultsIter<'a, E> {
        self.iter()
    }
}

impl<E: fmt::Debug> fmt::Debug for Faults<E> {
    /// Formats as a list of `(index, error)` pairs:
    /// `Faults([(1, "boom"), (3, "bang")])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Faults").field(&self.entries).finish()
    }
}

impl<E: fmt::Display> fmt::Display for Faults<E> {
    /// `no task faulted`, `task 1 faulted: boom`, or
    /// `3 tasks faulted; first (task 1): boom`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entries.as_slice() {
            [] => f.write_str("no task faulted"),
            [(index, error)] => write!(f, "task {index} faulted: {error}"),
            [(index, error), ..] => write!(
                f,
                "{} tasks faulted; first (task {index}): {error}",
                self.entries.len(),
            ),
        }
    }
}

impl<E: Error + 'static> Error for Faults<E> {
    /// The fault of the task with the lowest index.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.first().map(|error| error as &(dyn Error + 'static))
    }
}

/// Iterator over the `(index, &error)` pairs of a [`Faults`], in index order.
///
/// Returned by [`Faults::iter`] and by iterating over `&Faults`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct FaultsIter<'a, E> {
    inner: core::slice::Iter<'a, (usize, E)>,
}

impl<'a, E> Iterator for FaultsIter<'a, E> {
    type Item = (usize, &'a E);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(index, error)| (*index, error))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.inner.nth(n).map(|(index, error)| (*index, error))
    }
}

impl<E> DoubleEndedIterator for FaultsIter<'_, E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(index, error)| (*index, error))
    }
}

impl<E> ExactSizeIterator for FaultsIter<'_, E> {}

impl<E> FusedIterator for FaultsIter<'_, E> {}

impl<E> Clone for FaultsIter<'_, E> {
    fn clone(&self) -> Self {
        FaultsIter {
            inner: self.inner.clone(),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for FaultsIter<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FaultsIter")
            .field(&self.inner.as_slice())
            .finish()
    }
}

/// Iterator over the indices of the faulted tasks of a [`Faults`], in order.
///
/// Returned by [`Faults::indices`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct FaultIndices<'a, E> {
    inner: core::slice::Iter<'a, (usize, E)>,
}

impl<E> Iterator for FaultIndices<'_, E> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.inner.next().map(|&(index, _)| index)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    fn nth(&mut self, n: usize) -> Option<usize> {
        self.inner.nth(n).map(|&(index, _)| index)
    }
}

impl<E> DoubleEndedIterator for FaultIndices<'_, E> {
    fn next_back(&mut self) -> Option<usize> {
        self.inner.next_back().map(|&(index, _)| index)
    }
}

impl<E> ExactSizeIterator for FaultIndices<'_, E> {}

impl<E> FusedIterator for FaultIndices<'_, E> {}

impl<E> Clone for FaultIndices<'_, E> {
    fn clone(&self) -> Self {
        FaultIndices {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for FaultIndices<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Owning iterator over the `(index, error)` pairs of a [`Faults`], in index
/// order.
///
/// Returned by iterating over `Faults` by value.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct FaultsIntoIter<E> {
    inner: alloc::vec::IntoIter<(usize, E)>,
}

impl<E> Iterator for FaultsIntoIter<E> {
    type Item = (usize, E);

    fn next(&mut self) -> Option<(usize, E)> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    fn nth(&mut self, n: usize) -> Option<(usize, E)> {
        self.inner.nth(n)
    }
}

impl<E> DoubleEndedIterator for FaultsIntoIter<E> {
    fn next_back(&mut self) -> Option<(usize, E)> {
        self.inner.next_back()
    }
}

impl<E> ExactSizeIterator for FaultsIntoIter<E> {}

impl<E> FusedIterator for FaultsIntoIter<E> {}

impl<E: Clone> Clone for FaultsIntoIter<E> {
    fn clone(&self) -> Self {
        FaultsIntoIter {
            inner: self.inner.clone(),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for FaultsIntoIter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FaultsIntoIter")
            .field(&self.inner.as_slice())
            .finish()
    }
}

/// Why an aggregate did not succeed.
///
/// Faults win over cancellations, as in .NET: the task returned by
/// `Task.WhenAll` ends `Faulted` (with an `AggregateException` of every fault)
/// if any input task faulted, otherwise `Canceled` if any was canceled, and
/// `RanToCompletion` only if all completed.
///
/// # Examples
///
/// ```
/// use fanout::{Failure, Faults};
///
/// let faults: Faults<&str> = [(2, "boom")].into_iter().collect();
/// let failure = Failure::Faulted(faults);
/// assert!(failure.is_faulted());
/// assert_eq!(failure.first_fault(), Some(&"boom"));
/// assert_eq!(failure.to_string(), "task 2 faulted: boom");
///
/// let canceled: Failure<&str> = Failure::Canceled;
/// assert!(canceled.is_canceled());
/// assert_eq!(canceled.faults(), None);
/// assert_eq!(canceled.to_string(), "the batch was canceled");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Failure<E> {
    /// At least one task faulted; holds every fault, in index order (.NET
    /// `TaskStatus.Faulted` with an `AggregateException`). Cancellations of
    /// other tasks are not reported.
    Faulted(Faults<E>),
    /// No task faulted, but at least one was canceled, or the batch itself was
    /// (.NET `TaskStatus.Canceled`).
    Canceled,
}

impl<E> Failure<E> {
    /// Applies the precedence rule: any fault gives
    /// [`Faulted`](Failure::Faulted), otherwise any cancellation gives
    /// [`Canceled`](Failure::Canceled), otherwise `None`, meaning success.
    pub(crate) fn from_parts(faults: Faults<E>, any_canceled: bool) -> Option<Failure<E>> {
        if !faults.is_empty() {
            Some(Failure::Faulted(faults))
        } else if any_canceled {
            Some(Failure::Canceled)
        } else {
            None
        }
    }

    /// Returns `true` if at least one task faulted.
    #[must_use]
    pub const fn is_faulted(&self) -> bool {
        matches!(self, Failure::Faulted(_))
    }

    /// Returns `true` if the aggregate was canceled and nothing faulted.
    #[must_use]
    pub const fn is_canceled(&self) -> bool {
        matches!(self, Failure::Canceled)
    }

    /// The faults, or `None` if the aggregate was canceled.
    #[must_use]
    pub const fn faults(&self) -> Option<&Faults<E>> {
        match self {
            Failure::Faulted(faults) => Some(faults),
            Failure::Canceled => None,
        }
    }

    /// Takes the faults, or `None` if the aggregate was canceled.
    pub fn into_faults(self) -> Option<Faults<E>> {
        match self {
            Failure::Faulted(faults) => Some(faults),
            Failure::Canceled => None,
        }
    }

    /// The fault of the faulted task with the lowest index (what `await`
    /// rethrows in .NET), or `None` if the aggregate was canceled.
    #[must_use]
    pub fn first_fault(&self) -> Option<&E> {
        self.faults().and_then(Faults::first)
    }

    /// Transforms every fault with `f`, keeping the indices; `Canceled` stays
    /// `Canceled`.
    pub fn map<E2>(self, f: impl FnMut(E) -> E2) -> Failure<E2> {
        match self {
            Failure::Faulted(faults) => Failure::Faulted(faults.map(f)),
            Failure::Canceled => Failure::Canceled,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    /// `Faulted` formats as its [`Faults`]; `Canceled` as
    /// `the batch was canceled`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Faulted(faults) => fmt::Display::fmt(faults, f),
            Failure::Canceled => f.write_str("the batch was canceled"),
        }
    }
}

impl<E: Error + 'static> Error for Failure<E> {
    /// The fault of the faulted task with the lowest index; `None` if the
    /// aggregate was canceled.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.first_fault()
            .map(|error| error as &(dyn Error + 'static))
    }
}

#[cfg(all(test, not(fanout_loom)))]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::{format, vec};

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Boom(u32);

    impl fmt::Display for Boom {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "boom {}", self.0)
        }
    }

    impl Error for Boom {}

    #[test]
    fn insert_keeps_index_order() {
        let mut faults = Faults::new();
        assert!(faults.is_empty());
        for index in [4, 7, 2, 9, 0, 5] {
            faults.insert(index, index * 10);
        }
        assert_eq!(faults.len(), 6);
        assert_eq!(
            faults.clone().into_vec(),
            vec![(0, 0), (2, 20), (4, 40), (5, 50), (7, 70), (9, 90)]
        );
        assert_eq!(faults.indices().collect::<Vec<_>>(), vec![0, 2, 4, 5, 7, 9]);
        assert_eq!(
            faults.indices().rev().collect::<Vec<_>>(),
            vec![9, 7, 5, 4, 2, 0]
        );
        assert_eq!(faults.iter().len(), 6);
        assert_eq!(faults.iter().next_back(), Some((9, &90)));
        assert_eq!(
            faults.into_iter().rev().collect::<Vec<_>>(),
            vec![(9, 90), (7, 70), (5, 50), (4, 40), (2, 20), (0, 0)]
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "faulted twice")]
    fn insert_duplicate_index_panics_in_debug() {
        let mut faults = Faults::new();
        faults.insert(3, "a");
        faults.insert(1, "b");
        faults.insert(3, "c");
    }

    #[test]
    fn first_and_first_index() {
        let mut faults: Faults<&str> = Faults::new();
        assert_eq!(faults.first(), None);
        assert_eq!(faults.first_index(), None);
        faults.insert(5, "five");
        faults.insert(8, "eight");
        assert_eq!(faults.first(), Some(&"five"));
        assert_eq!(faults.first_index(), Some(5));
        faults.insert(2, "two");
        assert_eq!(faults.first(), Some(&"two"));
        assert_eq!(faults.first_index(), Some(2));
        assert_eq!(faults.into_first(), Some("two"));
        assert_eq!(Faults::<&str>::new().into_first(), None);
    }

    #[test]
    fn from_iterator_sorts_stably() {
        let faults: Faults<&str> = [(3, "c"), (1, "a"), (3, "d"), (0, "z"), (1, "b")]
            .into_iter()
            .collect();
        assert_eq!(
            faults.into_vec(),
            vec![(0, "z"), (1, "a"), (1, "b"), (3, "c"), (3, "d")]
        );
    }

    #[test]
    fn iteration_and_map() {
        let faults: Faults<u32> = [(2, 20), (1, 10)].into_iter().collect();
        let mut borrowed = Vec::new();
        for (index, error) in &faults {
            borrowed.push((index, *error));
        }
        assert_eq!(borrowed, vec![(1, 10), (2, 20)]);
        let mapped = faults.map(|e| e + 1);
        assert_eq!(mapped.into_vec(), vec![(1, 11), (2, 21)]);
    }

    #[test]
    fn debug_format() {
        let faults: Faults<&str> = [(3, "bang"), (1, "boom")].into_iter().collect();
        assert_eq!(
            format!("{faults:?}"),
            r#"Faults([(1, "boom"), (3, "bang")])"#
        );
        assert_eq!(format!("{:?}", faults.indices()), "[1, 3]");
        assert_eq!(
            format!("{:?}", Failure::Faulted(faults)),
            r#"Faulted(Faults([(1, "boom"), (3, "bang")]))"#
        );
    }

    #[test]
    fn display_faults() {
        let none: Faults<&str> = Faults::new();
        assert_eq!(none.to_string(), "no task faulted");

        let one: Faults<&str> = [(1, "boom")].into_iter().collect();
        assert_eq!(one.to_string(), "task 1 faulted: boom");

        let several: Faults<&str> = [(4, "bang"), (1, "boom"), (7, "crash")]
            .into_iter()
            .collect();
        assert_eq!(several.to_string(), "3 tasks faulted; first (task 1): boom");
    }

    #[test]
    fn display_failure() {
        let canceled: Failure<&str> = Failure::Canceled;
        assert_eq!(canceled.to_string(), "the batch was canceled");

        let faulted = Failure::Faulted([(1, "boom")].into_iter().collect());
        assert_eq!(faulted.to_string(), "task 1 faulted: boom");
    }

    #[test]
    fn from_parts_precedence() {
        let mut faults = Faults::new();
        faults.insert(2, "boom");
        let failure = Failure::from_parts(faults, true);
        assert_eq!(
            failure.as_ref().and_then(Failure::first_fault),
            Some(&"boom")
        );
        assert!(failure.as_ref().is_some_and(Failure::is_faulted));

        let mut faults = Faults::new();
        faults.insert(0, "boom");
        assert!(Failure::from_parts(faults, false).is_some_and(|f| f.is_faulted()));

        assert_eq!(
            Failure::<&str>::from_parts(Faults::new(), true),
            Some(Failure::Canceled)
        );
        assert_eq!(Failure::<&str>::from_parts(Faults::new(), false), None);
    }

    #[test]
    fn failure_accessors() {
        let faulted: Failure<u32> = Failure::Faulted([(3, 30), (1, 10)].into_iter().collect());
        assert!(faulted.is_faulted());
        assert!(!faulted.is_canceled());
        assert_eq!(faulted.faults().map(Faults::len), Some(2));
        assert_eq!(faulted.first_fault(), Some(&10));
        let mapped = faulted.map(|e| e * 2);
        assert_eq!(
            mapped.into_faults().map(Faults::into_vec),
            Some(vec![(1, 20), (3, 60)])
        );

        let canceled: Failure<u32> = Failure::Canceled;
        assert!(canceled.is_canceled());
        assert!(!canceled.is_faulted());
        assert_eq!(canceled.first_fault(), None);
        assert_eq!(canceled.clone().map(|e| e * 2), Failure::Canceled);
        assert_eq!(canceled.into_faults(), None);
    }

    #[test]
    fn outcome_methods() {
        let completed: Outcome<u32, String> = Outcome::Completed(1);
        let faulted: Outcome<u32, String> = Outcome::Faulted("e".to_string());
        let canceled: Outcome<u32, String> = Outcome::Canceled;

        assert!(completed.is_completed() && !completed.is_faulted() && !completed.is_canceled());
        assert!(!faulted.is_completed() && faulted.is_faulted() && !faulted.is_canceled());
        assert!(!canceled.is_completed() && !canceled.is_faulted() && canceled.is_canceled());

        assert_eq!(completed.as_ref(), Outcome::Completed(&1));
        assert_eq!(faulted.as_ref().faulted().map(String::as_str), Some("e"));
        assert_eq!(completed.clone().completed(), Some(1));
        assert_eq!(faulted.clone().completed(), None);
        assert_eq!(canceled.clone().faulted(), None);

        assert_eq!(completed.clone().map(|v| v + 1), Outcome::Completed(2));
        assert_eq!(
            faulted.clone().map(|v| v + 1),
            Outcome::Faulted("e".to_string())
        );
        assert_eq!(
            faulted.map_fault(|e| e.len()),
            Outcome::<u32, usize>::Faulted(1)
        );
        assert_eq!(
            completed.map_fault(|e| e.len()),
            Outcome::<u32, usize>::Completed(1)
        );
        assert_eq!(canceled.map(|v| v + 1), Outcome::Canceled);

        assert_eq!(Outcome::from(Ok::<u8, u8>(1)), Outcome::Completed(1));
        assert_eq!(Outcome::from(Err::<u8, u8>(2)), Outcome::Faulted(2));
    }

    fn agrees<O: TaskOutput>(output: O) -> bool {
        output.is_fault() == output.into_outcome().is_faulted()
    }

    #[test]
    fn task_output_for_result() {
        let ok: Result<u8, &str> = Ok(1);
        let err: Result<u8, &str> = Err("boom");
        assert!(!ok.is_fault());
        assert!(err.is_fault());
        assert_eq!(ok.into_outcome(), Outcome::Completed(1));
        assert_eq!(err.into_outcome(), Outcome::Faulted("boom"));
        assert!(agrees(ok));
        assert!(agrees(err));
    }

    #[test]
    fn task_output_for_outcome() {
        let outcomes: [Outcome<u8, &str>; 3] = [
            Outcome::Completed(1),
            Outcome::Faulted("boom"),
            Outcome::Canceled,
        ];
        for outcome in outcomes {
            assert!(agrees(outcome));
            assert_eq!(outcome.into_outcome(), outcome);
        }
        assert!(Outcome::<u8, &str>::Faulted("boom").is_fault());
        assert!(!Outcome::<u8, &str>::Canceled.is_fault());
        assert!(!Outcome::<u8, &str>::Completed(1).is_fault());
    }

    #[test]
    fn error_source_is_first_fault() {
        let faults: Faults<Boom> = [(5, Boom(5)), (2, Boom(2)), (9, Boom(9))]
            .into_iter()
            .collect();
        let source = Error::source(&faults).expect("a source");
        assert_eq!(source.to_string(), "boom 2");
        assert_eq!(source.downcast_ref::<Boom>(), Some(&Boom(2)));

        let failure = Failure::Faulted(faults);
        let source = Error::source(&failure).expect("a source");
        assert_eq!(source.downcast_ref::<Boom>(), Some(&Boom(2)));
        assert_eq!(
            failure.to_string(),
            "3 tasks faulted; first (task 2): boom 2"
        );

        assert!(Error::source(&Faults::<Boom>::new()).is_none());
        assert!(Error::source(&Failure::<Boom>::Canceled).is_none());
    }
}
