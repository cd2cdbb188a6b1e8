// Expects ONE error: a tuple passed to `fanout::when_all`, which takes an
// iterator of futures. `IntoSource`'s message says the tuple "is not a source
// of tasks", and its note names the fix: `use fanout::Join;` then
// `(a, b, c).when_all()`.

fn main() {
    let a = async { Ok::<u8, ()>(1) };
    let b = async { Ok::<u16, ()>(2) };
    let _batch = fanout::when_all((a, b));
}
