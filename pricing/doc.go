// Package pricing holds the built-in price table: list prices, in US
// dollars per million tokens, of the models users are likely to start
// with. A model in the config without a pricing block takes its price from
// here by name; a config pricing block replaces the built-in price whole.
//
// Prices were transcribed by hand from the providers' public pricing
// pages (see Source); they change, so production configs should state
// their own.
package pricing
