// Expects ONE error: `catch_panic` around a task whose output is a plain
// value. A caught panic becomes the task's error, so the task needs an
// error type; the message says so and names the fix.

fn main() {
    let _caught = fanout::catch_panic(async { 7_u64 });
}
