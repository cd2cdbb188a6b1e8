//! [`Processed`]: what a processor of [`for_each`](crate::for_each) or
//! [`for_each_async`](crate::for_each_async) returns — `()`, or a `Result`
//! whose error is a fault of the item it processed.

mod sealed {
    pub trait Sealed<E> {}
    impl<E> Sealed<E> for () {}
    impl<E> Sealed<E> for Result<(), E> {}
}

/// What a processor returns: `()` for one that cannot fail, or
/// `Result<(), E>`, where `E` is the error type of the batch's tasks. An
/// `Err` is a fault of the item the processor was given, recorded at its
/// index in the batch's [`Failure`](crate::Failure) with the tasks' faults
/// (in index order), and with [`fail_fast`](crate::ForEach::fail_fast) it
/// cancels the batch as a task's fault does (and, with `graceful`, waits).
///
/// So `?` works in a processor, converting with `From` into the tasks'
/// error type as it does anywhere:
///
/// ```
/// use fanout::Failure;
///
/// #[derive(Debug, PartialEq)]
/// enum Error {
///     Fetch(u32),
///     Write(&'static str),
/// }
/// impl From<&'static str> for Error {
///     fn from(e: &'static str) -> Self {
///         Error::Write(e)
///     }
/// }
/// fn write(line: u32) -> Result<(), &'static str> {
///     if line == 3 { Err("disk full") } else { Ok(()) }
/// }
///
/// let fetches = (0..5).map(|i| async move { if i == 1 { Err(Error::Fetch(i)) } else { Ok(i) } });
/// let batch = fanout::for_each(fetches, |_, line| {
///     write(line)?;
///     Ok(())
/// });
/// let Err(Failure::Faulted(faults)) = futures::executor::block_on(batch) else { unreachable!() };
/// assert_eq!(faults.into_vec(), [(1, Error::Fetch(1)), (3, Error::Write("disk full"))]);
/// ```
///
/// Sealed: implemented for `()` and `Result<(), E>` only.
#[diagnostic::on_unimplemented(
    message = "a processor must return `()` or `Result<(), E>` with the tasks' error type `E`, not `{Self}`",
    label = "the processor returns `{Self}`",
    note = "the tasks' error type is `{E}`: convert the processor's errors into it (`?` converts with `From`, or `.map_err(..)`), or return `()`"
)]
pub trait Processed<E>: sealed::Sealed<E> {
    /// The fault, if the processor failed.
    #[doc(hidden)]
    fn into_fault(self) -> Option<E>;
}

/// The panic of a batch polled again after its processor panicked on an
/// item, once everything else has ended: that item was never processed, so
/// the batch cannot claim success.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn processor_panicked(index: usize) -> ! {
    panic!(
        "fanout: the processor panicked on item {index} in an earlier poll of this batch, \
         so that item was not processed"
    )
}

impl<E> Processed<E> for () {
    #[inline(always)]
    fn into_fault(self) -> Option<E> {
        None
    }
}

impl<E> Processed<E> for Result<(), E> {
    #[inline(always)]
    fn into_fault(self) -> Option<E> {
        self.err()
    }
}
