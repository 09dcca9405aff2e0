package assemblyline_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/secret"
)

func Example() {
	c, err := assemblyline.New(assemblyline.Config{
		BaseURL: "https://al.example.org",
		User:    "svc_harvest",
		APIKey:  secret.String(os.Getenv("AL_APIKEY")), // "<key_name>:<password>"
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Sweep every submission that scored high enough.
	err = c.SearchSubmissions(ctx, assemblyline.SearchRequest{Query: "max_score:>=7000"}, func(items []assemblyline.SearchItem) error {
		for _, it := range items {
			sub, err := c.SubmissionFull(ctx, it.SID)
			switch {
			case failure.KindOf(err) == failure.NotReady:
				continue // still running: come back later
			case err != nil:
				return err
			}
			for _, r := range sub.Results {
				fmt.Println(r.SHA256, r.Score)
			}
		}
		return nil
	})
	if failure.KindOf(err) == failure.CursorExpired {
		log.Print("the cursor outlived its 5 minutes; start the sweep over")
	}

	// Download one file as cART; consume starts over on each retry.
	f, err := os.CreateTemp("", "*.cart")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	err = c.Download(ctx, "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5", func(body io.Reader, size int64) error {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(f, body)
		return err
	})
	if err != nil {
		log.Print(err)
	}
}
