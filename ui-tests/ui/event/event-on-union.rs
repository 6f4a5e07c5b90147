use herald::Event;

#[derive(Event)]
#[event(name = "bits.changed")]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
