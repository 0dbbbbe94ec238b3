"""Ads analytics: ad accounts, campaigns, ad groups and ads, their daily metrics and finality."""
