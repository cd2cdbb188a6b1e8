// Expects ONE error: `.settle_all()` on a tuple where one future outputs a
// plain `u16`, not a result. `Judged`'s message: every future "must output a
// `Result` or an `Outcome`"; the note offers `.join_all()`.

use fanout::Join;

fn main() {
    let _batch = (async { Ok::<u8, &str>(1) }, async { 2u16 }).settle_all();
}
