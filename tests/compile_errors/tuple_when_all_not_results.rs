// Expects ONE error: `.when_all()` on a tuple whose futures do not output
// results at all. Same message as a mix of error types ("needs every future
// to output" ... "one error type"); the note points to `.join_all()` for
// outputs that are not results.

use fanout::Join;

fn main() {
    let _batch = (async { 1u8 }, async { 2u16 }).when_all();
}
