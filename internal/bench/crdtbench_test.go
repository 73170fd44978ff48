package bench

import (
	"strings"
	"testing"
)

// Every scenario at a small N: the replicas must end with the content the
// JS suite checks for (Run fails otherwise), and the numbers be filled in.
func TestCRDTScenariosSmall(t *testing.T) {
	for _, s := range CRDTScenarios() {
		t.Run(s.ID, func(t *testing.T) {
			r, err := s.Run(100)
			if err != nil {
				t.Fatal(err)
			}
			if r.Time <= 0 || r.DocSize == 0 {
				t.Fatalf("result = %+v", r)
			}
		})
	}
}

// The checks do catch a wrong result.
func TestCRDTCheck(t *testing.T) {
	_, err := b1([][]edit{{{kind: insertText, s: "ab"}}}, textView, "abc")
	if err == nil || !strings.Contains(err.Error(), "want 3") {
		t.Fatalf("b1 with a wrong expectation: %v", err)
	}
	r, err := b1([][]edit{{{kind: insertText, s: "ac"}}, {{kind: insertText, pos: 1, s: "b"}}, {{kind: deleteText, pos: 0, n: 1}}}, textView, "bc")
	if err != nil || r.DocSize == 0 {
		t.Fatalf("b1: %+v, %v", r, err)
	}
}

func benchCRDT(b *testing.B, id string) {
	for _, s := range CRDTScenarios() {
		if s.ID != id {
			continue
		}
		for b.Loop() {
			r, err := s.Run(DefaultCRDTN)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(r.Time.Microseconds())/1000, "time-ms")
			b.ReportMetric(float64(r.Encode.Microseconds())/1000, "encode-ms")
			b.ReportMetric(float64(r.DocSize), "doc-bytes")
			b.ReportMetric(float64(r.Parse.Microseconds())/1000, "parse-ms")
		}
		return
	}
	b.Fatalf("no scenario %s", id)
}

// The JS suite's names: [B1.1] … [B3.5]. ns/op includes drawing the
// inputs; time-ms is the suite's "(time)".
func BenchmarkB1_1(b *testing.B)  { benchCRDT(b, "B1.1") }
func BenchmarkB1_2(b *testing.B)  { benchCRDT(b, "B1.2") }
func BenchmarkB1_3(b *testing.B)  { benchCRDT(b, "B1.3") }
func BenchmarkB1_4(b *testing.B)  { benchCRDT(b, "B1.4") }
func BenchmarkB1_5(b *testing.B)  { benchCRDT(b, "B1.5") }
func BenchmarkB1_6(b *testing.B)  { benchCRDT(b, "B1.6") }
func BenchmarkB1_7(b *testing.B)  { benchCRDT(b, "B1.7") }
func BenchmarkB1_8(b *testing.B)  { benchCRDT(b, "B1.8") }
func BenchmarkB1_9(b *testing.B)  { benchCRDT(b, "B1.9") }
func BenchmarkB1_10(b *testing.B) { benchCRDT(b, "B1.10") }
func BenchmarkB1_11(b *testing.B) { benchCRDT(b, "B1.11") }
func BenchmarkB2_1(b *testing.B)  { benchCRDT(b, "B2.1") }
func BenchmarkB2_2(b *testing.B)  { benchCRDT(b, "B2.2") }
func BenchmarkB2_3(b *testing.B)  { benchCRDT(b, "B2.3") }
func BenchmarkB2_4(b *testing.B)  { benchCRDT(b, "B2.4") }
func BenchmarkB3_1(b *testing.B)  { benchCRDT(b, "B3.1") }
func BenchmarkB3_2(b *testing.B)  { benchCRDT(b, "B3.2") }
func BenchmarkB3_3(b *testing.B)  { benchCRDT(b, "B3.3") }
func BenchmarkB3_4(b *testing.B)  { benchCRDT(b, "B3.4") }
func BenchmarkB3_5(b *testing.B)  { benchCRDT(b, "B3.5") }
