// Expects ONE error: `.when_any()` on a tuple (only arrays race: their
// elements share one type). Tuples do not implement `Race`, so rustc reports
// E0599 "no method named `when_any` found for tuple" and `Race`'s own message
// ("is not an array of futures") does not show; rustc even suggests
// `.when_all()`. The test asserts one error about `when_any`.

use fanout::Race;

fn main() {
    let _race = (async { 1 }, async { 'x' }).when_any();
}
