// Package demo holds the sample shop database and the light write load that
// `sluice demo` and tests run against a throwaway source. It owns no
// servers; callers pass connections.
package demo

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// Schema returns the statements that create the sample database:
// customers, products and orders with a few column types worth replicating
// (decimal money, JSON, timestamps, utf8mb4 text, an enum).
func Schema() []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS shop",
		`CREATE TABLE IF NOT EXISTS shop.customers (
		id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		email VARCHAR(191) NOT NULL UNIQUE,
		name VARCHAR(100) NOT NULL,
		city VARCHAR(64) NULL,
		created_at DATETIME(6) NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		`CREATE TABLE IF NOT EXISTS shop.products (
		id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		sku CHAR(12) NOT NULL UNIQUE,
		title VARCHAR(200) NOT NULL,
		price DECIMAL(10,2) NOT NULL,
		stock INT NOT NULL,
		attrs JSON NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		`CREATE TABLE IF NOT EXISTS shop.orders (
		id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		customer_id BIGINT UNSIGNED NOT NULL,
		product_id INT NOT NULL,
		qty SMALLINT NOT NULL,
		total DECIMAL(12,2) NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
		updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
		KEY (customer_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	}
}

// Seed creates the schema and fills it with customers and products.
func Seed(ctx context.Context, db *sql.DB, customers, products int) error {
	for _, q := range Schema() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create sample schema: %w", err)
		}
	}
	cities := []string{"Hangzhou", "Shanghai", "Berlin", "São Paulo", "東京", "Zürich", "Lagos", "Austin"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= customers; i++ {
		if _, err := db.ExecContext(ctx,
			"INSERT IGNORE INTO shop.customers (email, name, city, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))",
			fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d 🙂", i), cities[rng.IntN(len(cities))]); err != nil {
			return fmt.Errorf("seed customers: %w", err)
		}
	}
	for i := 1; i <= products; i++ {
		if _, err := db.ExecContext(ctx,
			"INSERT IGNORE INTO shop.products (sku, title, price, stock, attrs) VALUES (?, ?, ?, ?, ?)",
			fmt.Sprintf("SKU-%08d", i), fmt.Sprintf("Product %d", i), fmt.Sprintf("%d.%02d", 1+rng.IntN(500), rng.IntN(100)),
			rng.IntN(1000), fmt.Sprintf(`{"color": "c%d", "tags": ["a", "b"], "weight": %d}`, rng.IntN(10), rng.IntN(5000))); err != nil {
			return fmt.Errorf("seed products: %w", err)
		}
	}
	return nil
}

// Load runs a light write load until ctx ends: new orders, status changes,
// stock updates and the odd cancelled order deleted, rate transactions per
// second.
func Load(ctx context.Context, db *sql.DB, rate int) error {
	if rate <= 0 {
		rate = 20
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var customers, products int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.customers").Scan(&customers); err != nil {
		return fmt.Errorf("write load: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.products").Scan(&products); err != nil {
		return fmt.Errorf("write load: %w", err)
	}
	if customers == 0 || products == 0 {
		return fmt.Errorf("write load: seed the sample data first")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var err error
		switch n := rng.IntN(10); {
		case n < 5:
			_, err = db.ExecContext(ctx,
				"INSERT INTO shop.orders (customer_id, product_id, qty, total) VALUES (?, ?, ?, ?)",
				1+rng.Int64N(customers), 1+rng.Int64N(products), 1+rng.IntN(5), fmt.Sprintf("%d.%02d", rng.IntN(2000), rng.IntN(100)))
		case n < 8:
			_, err = db.ExecContext(ctx,
				"UPDATE shop.orders SET status = ELT(1 + FLOOR(RAND() * 3), 'paid', 'shipped', 'cancelled') WHERE id = (SELECT id FROM (SELECT id FROM shop.orders ORDER BY id DESC LIMIT 1 OFFSET ?) x)",
				rng.IntN(50))
		case n < 9:
			_, err = db.ExecContext(ctx, "UPDATE shop.products SET stock = stock - 1 WHERE id = ?", 1+rng.Int64N(products))
		default:
			_, err = db.ExecContext(ctx, "DELETE FROM shop.orders WHERE status = 'cancelled' ORDER BY id LIMIT 1")
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("write load: %w", err)
		}
	}
}
