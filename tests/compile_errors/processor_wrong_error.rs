// Expects ONE error: a `for_each` processor that returns a `Result` whose
// error type is not the tasks'. The message names the tasks' error type and
// says how to convert (`?` with `From`, `.map_err`), or to return `()`.

#[derive(Debug)]
struct FetchError;

fn write(_line: u32) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let tasks = (0..3).map(|i| async move { Ok::<u32, FetchError>(i) });
    let _batch = fanout::for_each(tasks, |_, line| write(line));
}
