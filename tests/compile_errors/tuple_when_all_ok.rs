// Expects NO error: the positive control. A tuple of futures with different
// value types and one error type joins with `.when_all()`. If this fails to
// compile, the harness (or the crate) is broken, not the diagnostics.

use fanout::Join;

fn main() {
    let _batch = (async { Ok::<u8, ()>(1) }, async { Ok::<&str, ()>("x") }).when_all();
}
