// Expects TWO errors: `fanout::join_all` over a `Vec<u8>`, whose items are
// not futures. First `IntoSource`'s "`Vec<u8>` is not a source of tasks" at
// the argument, then rustc's "`u8` is not a future" for the returned
// `JoinAll<IterSource<..>>`, whose struct requires `S: Source`.

fn main() {
    let _batch = fanout::join_all(vec![1u8, 2]);
}
