// Package ticker is Parley's push-versus-pull stock ticker: a market
// publishes quotes to the topics /stocks/SYMBOL, and the page subscribes
// to /stocks/* and receives them either pushed at once (Comet) or pulled
// at a fixed interval (polling), showing how old each price is.
package ticker

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parley-go/parley/reverse"
)

// Quote is one price of one stock, as published.
type Quote struct {
	// Symbol is the stock's ticker symbol, such as "GOOG".
	Symbol string `json:"symbol"`
	// Price is the price in dollars, to the cent.
	Price float64 `json:"price"`
	// Change is the difference from the previous price.
	Change float64 `json:"change"`
	// At is when the quote was published: pages show the price's age.
	At time.Time `json:"at"`
}

// Topic returns the topic quotes of symbol are published to.
func Topic(symbol string) string { return "/stocks/" + symbol }

// Market moves the prices of a few stocks at random and publishes each
// new quote. It is safe for concurrent use.
type Market struct {
	hub *reverse.Hub
	now func() time.Time

	mu     sync.Mutex
	prices map[string]float64
	order  []string
}

// NewMarket returns a market of a few stocks that publishes through hub.
func NewMarket(hub *reverse.Hub) *Market {
	m := &Market{hub: hub, now: time.Now, prices: map[string]float64{}}
	for _, s := range []struct {
		sym   string
		price float64
	}{{"AAPL", 228.50}, {"AMZN", 186.20}, {"GOOG", 171.35}, {"MSFT", 415.10}, {"NVDA", 124.75}} {
		m.order = append(m.order, s.sym)
		m.prices[s.sym] = s.price
	}
	return m
}

// Tick moves every price by up to 1% and publishes the new quotes, which
// it returns.
func (m *Market) Tick() ([]Quote, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := m.now().UTC()
	quotes := make([]Quote, 0, len(m.order))
	for _, sym := range m.order {
		old := m.prices[sym]
		price := math.Round(old*(1+(rand.Float64()-0.5)/50)*100) / 100
		m.prices[sym] = price
		q := Quote{Symbol: sym, Price: price, Change: math.Round((price-old)*100) / 100, At: at}
		if err := m.hub.Publish(Topic(sym), q); err != nil {
			return nil, err
		}
		quotes = append(quotes, q)
	}
	return quotes, nil
}

// Run ticks at every interval until ctx ends.
func (m *Market) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := m.Tick(); err != nil {
				return err
			}
		}
	}
}
