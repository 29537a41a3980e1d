// Command wordfreq counts word frequencies in files using a pool of workers.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode"
)

type result struct {
	path   string
	counts map[string]int
	err    error
}

func countFile(path string) result {
	f, err := os.Open(path)
	if err != nil {
		return result{path: path, err: err}
	}
	defer f.Close()

	counts := make(map[string]int)
	scanner := bufio.NewScanner(f)
	scanner.Split(bufio.ScanWords)
	for scanner.Scan() {
		word := strings.TrimFunc(scanner.Text(), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r)
		})
		if word == "" {
			continue
		}
		counts[strings.ToLower(word)]++
	}
	return result{path: path, counts: counts, err: scanner.Err()}
}

func worker(jobs <-chan string, out chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	for path := range jobs {
		out <- countFile(path)
	}
}

type pair struct {
	word  string
	count int
}

func topN(total map[string]int, n int) []pair {
	pairs := make([]pair, 0, len(total))
	for w, c := range total {
		pairs = append(pairs, pair{w, c})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].count != pairs[j].count {
			return pairs[i].count > pairs[j].count
		}
		return pairs[i].word < pairs[j].word
	})
	if len(pairs) > n {
		pairs = pairs[:n]
	}
	return pairs
}

func main() {
	workers := flag.Int("workers", 4, "number of concurrent workers")
	n := flag.Int("n", 20, "how many words to print")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wordfreq [-workers N] [-n N] FILE...")
		os.Exit(2)
	}

	jobs := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go worker(jobs, results, &wg)
	}
	go func() {
		for _, p := range flag.Args() {
			jobs <- p
		}
		close(jobs)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	total := make(map[string]int)
	failed := 0
	for r := range results {
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.path, r.err)
			failed++
			continue
		}
		for w, c := range r.counts {
			total[w] += c
		}
	}
	for _, p := range topN(total, *n) {
		fmt.Printf("%-20s %8d\n", p.word, p.count)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
