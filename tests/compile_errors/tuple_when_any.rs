// Expects ONE error: `.when_any()` on a tuple of futures of different types.
// A race hands out one output type, so its elements must share one type; the
// message says so and names the fix (an array, `Either`, or `Box::pin`).

use fanout::Race;

fn main() {
    let _race = (async { 1 }, async { 'x' }).when_any();
}
