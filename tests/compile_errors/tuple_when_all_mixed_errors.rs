// Expects ONE error: `.when_all()` on a tuple whose futures output results
// with different error types (`String` and `u32`). `SharedError`'s message
// says `when_all` "needs every future to output" a result with "one error
// type", and its note says to "convert each error to one type".

use fanout::Join;

fn main() {
    let a = async { Ok::<u8, String>(1) };
    let b = async { Ok::<u16, u32>(2) };
    let _batch = (a, b).when_all();
}
