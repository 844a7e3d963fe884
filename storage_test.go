package mls_test

import (
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/internal/storagetest"
)

func TestMemoryStorage(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, resumptionEpochs int) mls.Storage {
		return &mls.MemoryStorage{ResumptionPSKEpochs: resumptionEpochs}
	})
}

func TestNewMemoryStorage(t *testing.T) {
	s := mls.NewMemoryStorage()
	g := []byte("group")
	for epoch := range uint64(mls.DefaultResumptionPSKEpochs + 1) {
		if err := s.PutResumptionPSK(t.Context(), g, epoch, []byte{byte(epoch)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ResumptionPSK(t.Context(), g, 0); err == nil {
		t.Fatalf("kept %d epochs, want DefaultResumptionPSKEpochs = %d", mls.DefaultResumptionPSKEpochs+1, mls.DefaultResumptionPSKEpochs)
	}
	if _, err := s.ResumptionPSK(t.Context(), g, 1); err != nil {
		t.Fatal(err)
	}
}
