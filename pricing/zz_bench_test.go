package pricing

import "testing"

// BenchmarkLookup is the built-in price lookup of a model name, done when
// the config is loaded and for models without a pricing block.
func BenchmarkLookup(b *testing.B) {
	names := Names()
	if len(names) == 0 {
		b.Fatal("no built-in prices")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := Lookup(names[i%len(names)]); !ok {
			b.Fatalf("Lookup(%q) found nothing", names[i%len(names)])
		}
		i++
	}
}
